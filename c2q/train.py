"""One training loop for teachers and students: in-memory batches, validation selection, checkpoints.

The best epoch is chosen on the validation split only; the test split is not
seen here at all (the caller evaluates it once, on the selected weights).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from c2q.errors import NonFiniteLossError
from c2q.io import load_torch, save_torch
from c2q.registry import SCHEDULES
from c2q.splits import Split

# loss(logits, labels, indices of the batch in the training split) -> scalar
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class FitResult:
    best_epoch: int
    best_val_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class _State:
    """Everything a checkpoint holds besides the model and optimizer."""

    result: FitResult
    best_weights: dict | None = None
    next_epoch: int = 1


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, _index: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Logits for every row of x, in large batches."""
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, n_classes: int) -> list[list[int]]:
    """Counts, rows = true class, columns = predicted class."""
    pairs = labels * n_classes + logits.argmax(dim=1)
    return torch.bincount(pairs, minlength=n_classes * n_classes).view(n_classes, n_classes).tolist()


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction correct, counted exactly (no float32 rounding in reported errors)."""
    return (logits.argmax(dim=1) == labels).sum().item() / len(labels)


def training_key(params: dict, input_digests: dict[str, str]) -> str:
    """Identifies one training (its params and the exact input files) for checkpoint resumption."""
    return hashlib.sha256(json.dumps([params, input_digests], sort_keys=True).encode()).hexdigest()


def _check_finite(value: float, what: str, desc: str, epoch: int) -> None:
    if not math.isfinite(value):
        raise NonFiniteLossError(f"{desc}: the {what} loss became {value} in epoch {epoch}; "
                                 "lower the learning rate (lr in params.yaml)")


def learning_rate_schedule(optimizer, schedule: str, total_steps: int):
    """Per-step multiplier of the learning rate: `constant` keeps lr; `cosine` decays it from lr
    to 0 over all training steps (half a cosine period), so the last epochs refine instead of jump."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r} is not one of {SCHEDULES}")
    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)))


def batch_starts(n: int, batch_size: int) -> list[int]:
    """Where each training batch starts. A last batch of a single sample joins the one before,
    since batch normalisation (the `fc` reduction before angle encodings) needs two."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return starts


def _train_epoch(model, optimizer, scheduler, train: Split, order: torch.Tensor, batch_size: int, loss_fn: LossFn,
                 desc: str, epoch: int, epochs: int) -> tuple[float, float]:
    """One pass over the training split in `order`; returns (mean loss, accuracy)."""
    model.train()
    total_loss, correct, n = 0.0, 0, len(train)
    starts = batch_starts(n, batch_size)
    for first, end in tqdm(zip(starts, starts[1:] + [n]), total=len(starts), desc=f"{desc} epoch {epoch}/{epochs}",
                           leave=False, disable=None):
        index = order[first:end]
        x, y = train.x[index], train.y[index]
        logits = model(x)
        loss = loss_fn(logits, y, index)
        value = loss.item()
        _check_finite(value, "training", desc, epoch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += value * len(index)
        correct += (logits.argmax(dim=1) == y).sum().item()
    return total_loss / n, correct / n


def _resume(path: Path | None, key: str, model, optimizer, scheduler, generator) -> _State | None:
    """Restore an interrupted run of the same training from its checkpoint, else None."""
    if path is None or not path.is_file():
        return None
    try:
        saved = load_torch(path)
    except Exception:  # a damaged checkpoint is only a lost shortcut: start over
        return None
    if saved.get("key") != key:
        return None
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    generator.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])
    result = FitResult(saved["best_epoch"], saved["best_val_accuracy"], saved["history"])
    return _State(result, saved["best_state"], saved["epoch"] + 1)


def _save_checkpoint(path: Path, key: str, model, optimizer, scheduler, generator, state: _State) -> None:
    save_torch({
        "key": key, "epoch": state.next_epoch - 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "best_state": state.best_weights,
        "best_epoch": state.result.best_epoch, "best_val_accuracy": state.result.best_val_accuracy,
        "history": state.result.history,
    }, path)


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    schedule: str = "constant",
    loss_fn: LossFn = cross_entropy,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    desc: str = "train",
    checkpoint: Path | None = None,
    checkpoint_key: str = "",
) -> FitResult:
    """Train with Adam (learning rate `lr`, shaped per step by `schedule`); keep the weights of the
    epoch with the best validation accuracy.

    On return `model` holds those best weights. With `checkpoint`, the whole
    training state (weights, optimizer, random generators, history) is saved
    after every epoch, and a later call with the same `checkpoint_key` resumes
    from it, ending with the same weights as an uninterrupted run. The caller
    deletes the checkpoint once its outputs are written.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = learning_rate_schedule(optimizer, schedule, epochs * len(batch_starts(len(train), batch_size)))
    state = _resume(checkpoint, checkpoint_key, model, optimizer, scheduler, generator)
    if state is None:
        state = _State(FitResult(best_epoch=0, best_val_accuracy=-1.0))
    else:
        print(f"{desc}: resuming after epoch {state.next_epoch - 1} from {checkpoint}", flush=True)
        for row in state.result.history if on_epoch else []:
            on_epoch(row)  # the resumed run's record holds the whole curve
    for epoch in range(state.next_epoch, epochs + 1):
        order = torch.randperm(len(train), generator=generator)
        train_loss, train_accuracy = _train_epoch(model, optimizer, scheduler, train, order, batch_size, loss_fn,
                                                  desc, epoch, epochs)
        val_logits = predict(model, val.x)
        row = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
               "val_loss": F.cross_entropy(val_logits, val.y).item(), "val_accuracy": accuracy(val_logits, val.y)}
        _check_finite(row["val_loss"], "validation", desc, epoch)
        state.result.history.append(row)
        if row["val_accuracy"] > state.result.best_val_accuracy:
            state.result.best_epoch, state.result.best_val_accuracy = epoch, row["val_accuracy"]
            state.best_weights = copy.deepcopy(model.state_dict())
        state.next_epoch = epoch + 1
        if checkpoint is not None and epoch < epochs:
            _save_checkpoint(checkpoint, checkpoint_key, model, optimizer, scheduler, generator, state)
        if on_epoch:
            on_epoch(row)
    model.load_state_dict(state.best_weights)
    return state.result
