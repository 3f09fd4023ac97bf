import gzip
import shutil

import pytest

from c2q.core.errors import DatasetFileError
from c2q.data import raw as data


def _copy_mnist_mirror(mirror, dest):
    shutil.copytree(mirror / "MNIST", dest / "MNIST")
    return dest


def test_fetch_from_mirror_verifies_and_never_writes_into_it(mirror, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in (mirror / "MNIST").rglob("*")}
    source = data.fetch("mnist", tmp_path / "root", mirror)
    assert source == "mirror"  # where it came from, never the path: outputs must not depend on it
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
    with pytest.raises(DatasetFileError, match="checksum mismatch.*t10k-labels-idx1-ubyte"):
        data.fetch("mnist", tmp_path / "root", fake)


def test_missing_mirror_file_names_the_file(mirror, tmp_path):
    fake = _copy_mnist_mirror(mirror, tmp_path / "mirror")
    (fake / "MNIST/raw/train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetFileError, match="train-labels-idx1-ubyte"):
        data.fetch("mnist", tmp_path / "root", fake)
