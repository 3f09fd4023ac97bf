"""Train/validation/test splits: disjoint, stratified, seeded, test kept apart."""

import numpy as np
import torch

from c2q.data.splits import per_class_subset
from c2q.data.splitting import make_splits


def _synthetic_raw(n_train=1000, n_test=200, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "train_x": torch.randint(0, 256, (n_train, 1, 4, 4), generator=g, dtype=torch.uint8),
        "train_y": torch.randint(0, classes, (n_train,), generator=g),
        "test_x": torch.randint(0, 256, (n_test, 1, 4, 4), generator=g, dtype=torch.uint8),
        "test_y": torch.randint(0, classes, (n_test,), generator=g),
    }


def test_split_is_disjoint_stratified_and_keeps_test_apart():
    raw = _synthetic_raw()
    s = make_splits(raw, val_fraction=0.2, seed=3)
    train, val = set(s["train_index"].tolist()), set(s["val_index"].tolist())
    assert not train & val and len(train | val) == 1000
    # Train and validation come only from the official train set; test is the official test set.
    assert torch.equal(s["train_x"], raw["train_x"][s["train_index"]])
    assert torch.equal(s["test_x"], raw["test_x"]) and torch.equal(s["test_y"], raw["test_y"])
    # Stratified: every class's validation share is 20% to within one sample.
    counts = raw["train_y"].bincount(minlength=10).numpy()
    val_counts = s["val_y"].bincount(minlength=10).numpy()
    assert np.all(np.abs(val_counts - 0.2 * counts) <= 1)
    # Normalisation statistics come from the train split only.
    assert torch.allclose(s["mean"], (s["train_x"].float() / 255).mean(dim=(0, 2, 3)))


def test_split_is_seeded_and_test_data_does_not_change_it():
    raw = _synthetic_raw()
    a = make_splits(raw, 0.2, seed=1)
    other_test = dict(raw, test_x=torch.zeros_like(raw["test_x"]))
    b = make_splits(other_test, 0.2, seed=1)
    assert torch.equal(a["val_index"], b["val_index"]) and torch.equal(a["mean"], b["mean"])
    assert not torch.equal(a["val_index"], make_splits(raw, 0.2, seed=2)["val_index"])


def test_max_samples_caps_every_split_stratified():
    raw = _synthetic_raw(n_train=2000, n_test=1000, classes=4)
    raw["train_y"] = torch.tensor([0] * 1000 + [1] * 600 + [2] * 300 + [3] * 100)  # shares 50, 30, 15, 5 %
    raw["test_y"] = torch.tensor([0] * 100 + [1] * 300 + [2] * 300 + [3] * 300)  # 10, 30, 30, 30 %
    s = make_splits(raw, 0.2, seed=0, max_samples=100)
    assert len(s["train_y"]) == len(s["val_y"]) == len(s["test_y"]) == 100
    assert set(s["train_index"].tolist()).isdisjoint(s["val_index"].tolist())
    # Stratified: each capped split keeps its source's class shares (to within one sample), not equal shares.
    for split in ("train", "val"):
        assert (s[f"{split}_y"].bincount(minlength=4) - torch.tensor([50, 30, 15, 5])).abs().max() <= 1, split
    assert (s["test_y"].bincount(minlength=4) - torch.tensor([10, 30, 30, 30])).abs().max() <= 1


def test_per_class_subset_is_stratified_seeded_and_capped_by_small_classes():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 4)
    index = per_class_subset(labels, 10, seed=0)
    assert torch.equal(index, index.sort().values) and len(set(index.tolist())) == len(index)
    assert labels[index].bincount().tolist() == [10, 10, 4]  # class 2 has only 4
    assert torch.equal(index, per_class_subset(labels, 10, seed=0))
    assert not torch.equal(index, per_class_subset(labels, 10, seed=1))
    # a larger subset of the same seed is not required to contain the smaller, but every size is exact
    assert labels[per_class_subset(labels, 25, seed=0)].bincount().tolist() == [25, 25, 4]
    assert torch.equal(per_class_subset(labels, "all", seed=5), torch.arange(len(labels)))
