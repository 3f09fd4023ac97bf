"""One training loop for teachers and students: in-memory batches, validation selection.

The best epoch is chosen on the validation split only; the test split is not
seen here at all (the caller evaluates it once, on the selected weights).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from c2q.splits import Split

# loss(logits, labels, indices of the batch in the training split) -> scalar
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""


@dataclass
class FitResult:
    best_epoch: int
    best_val_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)


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


def training_key(params: dict, inputs: list[Path]) -> str:
    """Identifies one training (its params and the exact input files) for checkpoint resumption."""
    import hashlib
    import json

    from c2q.data import file_digest

    digests = {str(p): file_digest(p, "sha256") for p in inputs}
    return hashlib.sha256(json.dumps([params, digests], sort_keys=True).encode()).hexdigest()


def _load_checkpoint(path: Path | None, key: str) -> dict | None:
    """A checkpoint written by an interrupted run of the same training, else None."""
    if path is None or not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged checkpoint is only a lost shortcut: start over
        return None
    return state if state.get("key") == key else None


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    loss_fn: LossFn = cross_entropy,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    desc: str = "train",
    checkpoint: Path | None = None,
    checkpoint_key: str = "",
) -> FitResult:
    """Train with Adam; keep the weights of the epoch with the best validation accuracy.

    On return `model` holds those best weights. With `checkpoint`, the whole
    training state (weights, optimizer, random generators, history) is saved
    after every epoch, and a later call with the same `checkpoint_key` resumes
    from it, ending with the same weights as an uninterrupted run. The caller
    deletes the checkpoint once its outputs are written.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best_state, result = None, FitResult(best_epoch=0, best_val_accuracy=-1.0)
    start = 1
    if (saved := _load_checkpoint(checkpoint, checkpoint_key)) is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        best_state = saved["best_state"]
        result = FitResult(saved["best_epoch"], saved["best_val_accuracy"], saved["history"])
        start = saved["epoch"] + 1
        print(f"{desc}: resuming after epoch {saved['epoch']} from {checkpoint}", flush=True)
        for row in result.history if on_epoch else []:
            on_epoch(row)  # the resumed run's record holds the whole curve
    n = len(train)
    for epoch in range(start, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator)
        total_loss, correct = 0.0, 0
        batches = range(0, n, batch_size)
        for first in tqdm(batches, desc=f"{desc} epoch {epoch}/{epochs}", leave=False, disable=None):
            index = order[first : first + batch_size]
            x, y = train.x[index], train.y[index]
            logits = model(x)
            loss = loss_fn(logits, y, index)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"{desc}: the training loss became {loss.item()} in epoch {epoch}; "
                    "lower the learning rate (lr in params.yaml)"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(index)
            correct += (logits.argmax(dim=1) == y).sum().item()

        val_logits = predict(model, val.x)
        row = {
            "epoch": epoch,
            "train_loss": total_loss / n,
            "train_accuracy": correct / n,
            "val_loss": F.cross_entropy(val_logits, val.y).item(),
            "val_accuracy": accuracy(val_logits, val.y),
        }
        if not math.isfinite(row["val_loss"]):
            raise TrainingError(
                f"{desc}: the validation loss became {row['val_loss']} in epoch {epoch}; "
                "lower the learning rate (lr in params.yaml)"
            )
        result.history.append(row)
        if row["val_accuracy"] > result.best_val_accuracy:
            result.best_epoch, result.best_val_accuracy = epoch, row["val_accuracy"]
            best_state = copy.deepcopy(model.state_dict())
        if checkpoint is not None and epoch < epochs:
            _save_checkpoint(checkpoint, checkpoint_key, epoch, model, optimizer, generator, best_state, result)
        if on_epoch:
            on_epoch(row)
    model.load_state_dict(best_state)
    return result


def _save_checkpoint(path, key, epoch, model, optimizer, generator, best_state, result) -> None:
    state = {
        "key": key, "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "best_state": best_state,
        "best_epoch": result.best_epoch, "best_val_accuracy": result.best_val_accuracy, "history": result.history,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
