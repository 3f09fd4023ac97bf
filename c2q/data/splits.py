"""Train/validation/test splits as the reduce stage wrote them: read back, subsets, normalisation.

Making them from the official sets is c2q.data.splitting's job (only the reduce stage needs it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from c2q.core.io import load_tensors

SPLITS = ("train", "val", "test")


@dataclass
class Split:
    """One split: features or normalised images, and labels."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def per_class_subset(labels: torch.Tensor, per_class: int | str, seed: int) -> torch.Tensor:
    """Sorted indices of `per_class` samples of every class, drawn with `seed` ("all": every index).
    A class with fewer samples keeps all of them."""
    if per_class == "all":
        return torch.arange(len(labels))
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for c in labels.unique(sorted=True):
        members = (labels == c).nonzero().flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(picks).sort().values


def take(split: Split, index: torch.Tensor) -> Split:
    return Split(split.x[index], split.y[index])


# ---- reading them back ----

def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float images with the train split's per-channel mean 0 and std 1."""
    return ((images.float() / 255.0) - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def load_splits(path: Path) -> dict[str, Split]:
    """Read a file of the reduce stage as train/val/test tensors (`splits_of`)."""
    return splits_of(load_tensors(path))


def splits_of(t: dict[str, torch.Tensor]) -> dict[str, Split]:
    """The train/val/test tensors of a reduce stage's file, already read.

    Image files hold uint8 images plus the train split's statistics and come
    back normalised; feature files hold float features and come back as is.
    """
    out = {}
    for s in SPLITS:
        x = t[f"{s}_x"]
        if x.dtype == torch.uint8:
            x = normalise(x, t["mean"], t["std"])
        out[s] = Split(x, t[f"{s}_y"])
    return out
