"""Train/validation/test splits: made from the official sets, and read back from the reduce stage's files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
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


# ---- making splits ----

def _stratified_subset(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a stratified subset of size n (all indices when n is None or too big)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    if n is None or n >= len(labels):
        return idx
    keep, _ = train_test_split(idx, train_size=n, stratify=labels, random_state=seed)
    return np.sort(keep)


def _relabelling(raw: dict[str, torch.Tensor], classes: list[int]) -> torch.Tensor:
    """Lookup table original label -> 0..C-1 in the order of `classes`, -1 for dropped classes."""
    relabel = torch.full((int(max(raw["train_y"].max(), raw["test_y"].max())) + 1,), -1, dtype=torch.long)
    relabel[torch.tensor(classes)] = torch.arange(len(classes))
    return relabel


def make_splits(
    raw: dict[str, torch.Tensor],
    val_fraction: float,
    seed: int,
    max_samples: int | None = None,
    classes: list[int] | None = None,
) -> dict[str, torch.Tensor]:
    """Stratified train/validation split of the official train set; test stays apart.

    `classes` keeps only those classes and relabels them 0..C-1 in the given
    order. `max_samples` caps every split (stratified) for quick runs. Indices
    into the official sets are kept so the split can be audited.
    """
    from sklearn.model_selection import train_test_split  # imported here: it takes seconds

    keep_train = np.arange(len(raw["train_y"]))
    keep_test = np.arange(len(raw["test_y"]))
    relabel = None
    if classes is not None:
        relabel = _relabelling(raw, classes)
        keep_train = keep_train[(relabel[raw["train_y"]] >= 0).numpy()]
        keep_test = keep_test[(relabel[raw["test_y"]] >= 0).numpy()]

    labels = raw["train_y"].numpy()
    train_idx, val_idx = train_test_split(keep_train, test_size=val_fraction, stratify=labels[keep_train],
                                          random_state=seed)
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    train_idx = train_idx[_stratified_subset(labels[train_idx], max_samples, seed)]
    val_idx = val_idx[_stratified_subset(labels[val_idx], max_samples, seed)]
    test_idx = keep_test[_stratified_subset(raw["test_y"].numpy()[keep_test], max_samples, seed)]

    def labels_of(y):
        return relabel[y] if relabel is not None else y

    out = {
        "train_index": torch.from_numpy(train_idx),
        "val_index": torch.from_numpy(val_idx),
        "test_index": torch.from_numpy(test_idx),
        "train_x": raw["train_x"][train_idx],
        "train_y": labels_of(raw["train_y"][train_idx]),
        "val_x": raw["train_x"][val_idx],
        "val_y": labels_of(raw["train_y"][val_idx]),
        "test_x": raw["test_x"][test_idx],
        "test_y": labels_of(raw["test_y"][test_idx]),
    }
    # Normalisation statistics come from the training split only.
    pixels = out["train_x"].float() / 255.0
    out["mean"] = pixels.mean(dim=(0, 2, 3))
    out["std"] = pixels.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return out


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
