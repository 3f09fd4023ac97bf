"""Train/validation/test splits made from a dataset's official sets (the reduce stage's job)."""

from __future__ import annotations

import numpy as np
import torch


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
