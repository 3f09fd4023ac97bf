"""One training loop for teachers and students: in-memory batches, validation selection.

The best epoch is chosen on the validation split only; the test split is not
seen here at all (the caller evaluates it once, on the selected weights).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from c2q.data import Split

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


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction correct, counted exactly (no float32 rounding in reported errors)."""
    return (logits.argmax(dim=1) == labels).sum().item() / len(labels)


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
) -> FitResult:
    """Train with Adam; keep the weights of the epoch with the best validation accuracy.

    On return `model` holds those best weights.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best_state, result = None, FitResult(best_epoch=0, best_val_accuracy=-1.0)
    n = len(train)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator)
        total_loss, correct = 0.0, 0
        batches = range(0, n, batch_size)
        for start in tqdm(batches, desc=f"{desc} epoch {epoch}/{epochs}", leave=False, disable=None):
            index = order[start : start + batch_size]
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
        if on_epoch:
            on_epoch(row)
    model.load_state_dict(best_state)
    return result
