"""CIFAR-10 has no offline copy here: these tests write small files in its real python format."""

import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from c2q.core.errors import DatasetFileError
from c2q.data import raw as data
from c2q.data.splitting import make_splits

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"testing batch",
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img{i}.png".encode() for i in range(n)],
    }


def write_cifar(root, n=12, overrides=None):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for i, name in enumerate(BATCHES):
        batches[name] = (overrides or {}).get(name, _batch(n, i))
        with open(folder / name, "wb") as f:
            pickle.dump(batches[name], f, protocol=2)
    return batches


def test_loads_batches_in_the_real_format(tmp_path):
    batches = write_cifar(tmp_path)
    raw = data.load_raw("cifar10", tmp_path)
    assert raw["train_x"].shape == (60, 3, 32, 32) and raw["test_x"].shape == (12, 3, 32, 32)
    assert raw["train_x"].dtype == torch.uint8 and raw["train_y"].dtype == torch.int64
    first = batches["data_batch_1"][b"data"][0]
    # CIFAR rows hold the red plane, then green, then blue, each 32x32 row-major.
    assert raw["train_x"][0, 0, 0, :5].tolist() == first[:5].tolist()
    assert raw["train_x"][0, 1, 0, 0].item() == first[1024]
    assert raw["test_y"].tolist() == batches["test_batch"][b"labels"]


def test_split_and_teacher_input_for_colour_images(tmp_path):
    write_cifar(tmp_path, n=40)
    s = make_splits(data.load_raw("cifar10", tmp_path), 0.25, seed=0)
    assert s["mean"].shape == (3,) and s["train_x"].shape[1:] == (3, 32, 32)


def test_wrong_shape_batch_names_the_file(tmp_path):
    bad = _batch(12, 0)
    bad[b"data"] = bad[b"data"][:, :1024]
    write_cifar(tmp_path, overrides={"data_batch_3": bad})
    with pytest.raises(DatasetFileError, match="data_batch_3.*shape \\(N, 3072\\)"):
        data.load_raw("cifar10", tmp_path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_batches_cannot_run_code(tmp_path):
    write_cifar(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": _Exploit(), b"labels": []}, f, protocol=2)
    with pytest.raises(DatasetFileError, match="test_batch.*refusing to load posix.system"):
        data.load_raw("cifar10", tmp_path)


def test_mirror_tarball_is_extracted_and_checksummed(tmp_path):
    """A mirror holding torchvision's tarball is read; test-made batches fail the canonical MD5."""
    write_cifar(tmp_path / "src")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    with pytest.raises(DatasetFileError, match="checksum mismatch for .*data_batch_1"):
        data.fetch("cifar10", tmp_path / "root", mirror)
    assert (tmp_path / "root/cifar-10-batches-py/test_batch").is_file()
