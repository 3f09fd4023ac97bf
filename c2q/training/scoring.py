"""Scoring a trained model: logits in large batches, exact accuracy, confusion counts.

Apart from the training loop (c2q.training.engine), so a stage that only scores trained
models (cache_logits, the report) does not rerun when the loop changes.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Logits for every row of x, in large batches."""
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction correct, counted exactly (no float32 rounding in reported errors)."""
    return (logits.argmax(dim=-1) == labels).sum().item() / labels.shape[-1]


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, n_classes: int) -> list[list[int]]:
    """Counts, rows = true class, columns = predicted class."""
    pairs = labels * n_classes + logits.argmax(dim=1)
    return torch.bincount(pairs, minlength=n_classes * n_classes).view(n_classes, n_classes).tolist()
