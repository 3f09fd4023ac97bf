"""The reduce stage's files as tensors: what teachers and students train on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from c2q.io import load_tensors

SPLITS = ("train", "val", "test")


@dataclass
class Split:
    """One split: features or normalised images, and labels."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float images with the train split's per-channel mean 0 and std 1."""
    return ((images.float() / 255.0) - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def load_splits(path: Path) -> dict[str, Split]:
    """Read a file of the reduce stage as train/val/test tensors.

    Image files hold uint8 images plus the train split's statistics and come
    back normalised; feature files hold float features and come back as is.
    """
    t = load_tensors(path)
    out = {}
    for s in SPLITS:
        x = t[f"{s}_x"]
        if x.dtype == torch.uint8:
            x = normalise(x, t["mean"], t["std"])
        out[s] = Split(x, t[f"{s}_y"])
    return out
