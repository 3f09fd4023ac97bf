import gzip
import shutil

import numpy as np
import pytest
import torch

from c2q import data


def _copy_mnist_mirror(mirror, dest):
    shutil.copytree(mirror / "MNIST", dest / "MNIST")
    return dest


def test_fetch_from_mirror_verifies_and_never_writes_into_it(mirror, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in (mirror / "MNIST").rglob("*")}
    source = data.fetch("mnist", tmp_path / "root", mirror)
    assert source.startswith("mirror:")
    assert (tmp_path / "root/MNIST/raw/train-images-idx3-ubyte").stat().st_size == 47040016
    after = {p: p.stat().st_mtime_ns for p in (mirror / "MNIST").rglob("*")}
    assert before == after
    raw = data.load_raw("mnist", tmp_path / "root")
    assert raw["train_x"].shape == (60000, 1, 28, 28) and raw["test_x"].shape == (10000, 1, 28, 28)
    assert raw["train_y"].bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_checksum_mismatch_names_the_file(mirror, tmp_path):
    fake = _copy_mnist_mirror(mirror, tmp_path / "mirror")
    labels = fake / "MNIST/raw/t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(labels.read_bytes()))
    content[100] ^= 0xFF  # one corrupted label byte
    labels.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(data.DataError, match="checksum mismatch.*t10k-labels-idx1-ubyte"):
        data.fetch("mnist", tmp_path / "root", fake)


def test_missing_mirror_file_names_the_file(mirror, tmp_path):
    fake = _copy_mnist_mirror(mirror, tmp_path / "mirror")
    (fake / "MNIST/raw/train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte"):
        data.fetch("mnist", tmp_path / "root", fake)


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
    s = data.split(raw, val_fraction=0.2, seed=3)
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
    a = data.split(raw, 0.2, seed=1)
    other_test = dict(raw, test_x=torch.zeros_like(raw["test_x"]))
    b = data.split(other_test, 0.2, seed=1)
    assert torch.equal(a["val_index"], b["val_index"]) and torch.equal(a["mean"], b["mean"])
    assert not torch.equal(a["val_index"], data.split(raw, 0.2, seed=2)["val_index"])


def test_max_samples_caps_every_split_stratified():
    s = data.split(_synthetic_raw(), 0.2, seed=0, max_samples=100)
    assert len(s["train_y"]) == len(s["val_y"]) == len(s["test_y"]) == 100
    assert set(s["train_index"].tolist()).isdisjoint(s["val_index"].tolist())
