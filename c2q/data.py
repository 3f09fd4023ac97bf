"""Datasets: fetch (torchvision or an offline mirror), verify, split, load as tensors.

Raw files live in torchvision's layout (`<root>/<Folder>/raw/...`), so the same
torchvision class reads them whether they came from the real download or from
a mirror folder named by the environment variable C2Q_DATA_MIRROR.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

MIRROR_ENV = "C2Q_DATA_MIRROR"


class DataError(RuntimeError):
    """A dataset file is missing, damaged or not what it claims to be."""


@dataclass(frozen=True)
class DatasetSpec:
    folder: str  # torchvision's folder name under the root
    torchvision_class: str
    files: dict[str, str]  # path under the root -> SHA-256 of the decompressed file
    classes: tuple[str, ...]


MNIST_FILES = {
    "MNIST/raw/train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "MNIST/raw/train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "MNIST/raw/t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "MNIST/raw/t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

DATASETS = {
    "mnist": DatasetSpec("MNIST", "MNIST", MNIST_FILES, tuple(str(i) for i in range(10))),
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksums(name: str, root: Path) -> None:
    """Stop with a message naming the first file whose SHA-256 is wrong or missing."""
    for rel, expected in DATASETS[name].files.items():
        path = root / rel
        if not path.is_file():
            raise DataError(f"{name}: expected file {path} is missing")
        actual = sha256(path)
        if actual != expected:
            raise DataError(
                f"{name}: checksum mismatch for {path}\n  expected sha256 {expected}\n  got      sha256 {actual}\n"
                "The file is damaged or not the canonical dataset; replace it."
            )


def _copy_from_mirror(name: str, mirror: Path, root: Path) -> None:
    """Copy (decompressing .gz) every file of `name` from the mirror; never write into it."""
    for rel in DATASETS[name].files:
        plain, gz = mirror / rel, mirror / f"{rel}.gz"
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if plain.is_file():
            shutil.copyfile(plain, dest)
        elif gz.is_file():
            try:
                with gzip.open(gz, "rb") as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
            except (OSError, EOFError, zlib.error) as e:
                raise DataError(f"{name}: cannot decompress mirror file {gz}: {e}") from None
        else:
            raise DataError(f"{name}: mirror {mirror} has neither {plain} nor {gz}")


def fetch(name: str, root: Path, mirror: Path | None = None) -> str:
    """Put the raw files of dataset `name` under `root` and verify them.

    With a mirror folder (torchvision's layout, .gz or raw files) the files are
    copied from it; otherwise torchvision downloads them. Returns the source used.
    """
    spec = DATASETS[name]
    if mirror is not None:
        if not mirror.is_dir():
            raise DataError(f"{MIRROR_ENV}={mirror} is not a directory")
        _copy_from_mirror(name, mirror, root)
        source = f"mirror:{mirror}"
    else:
        import torchvision.datasets as tvd

        cls = getattr(tvd, spec.torchvision_class)
        for train in (True, False):
            cls(str(root), train=train, download=True)
        for archive in (root / spec.folder / "raw").glob("*.gz"):
            archive.unlink()  # keep only the decompressed files that are checksummed
        source = "torchvision"
    verify_checksums(name, root)
    return source


def load_raw(name: str, root: Path) -> dict[str, torch.Tensor]:
    """Official train and test sets as uint8 images (N, C, H, W) and int64 labels."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = root / DATASETS[name].folder / "raw"
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_image_file(str(raw / f"{prefix}-images-idx3-ubyte"))
        out[f"{split}_x"] = images.unsqueeze(1).contiguous()
        out[f"{split}_y"] = read_label_file(str(raw / f"{prefix}-labels-idx1-ubyte")).long()
    return out


def _stratified_subset(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a stratified subset of size n (all indices when n is None or too big)."""
    idx = np.arange(len(labels))
    if n is None or n >= len(labels):
        return idx
    keep, _ = train_test_split(idx, train_size=n, stratify=labels, random_state=seed)
    return np.sort(keep)


def split(
    raw: dict[str, torch.Tensor], val_fraction: float, seed: int, max_samples: int | None = None
) -> dict[str, torch.Tensor]:
    """Stratified train/validation split of the official train set; test stays as is.

    `max_samples` caps every split (stratified) for quick runs. The indices into
    the official train set are kept so the split can be audited.
    """
    labels = raw["train_y"].numpy()
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=val_fraction, stratify=labels, random_state=seed
    )
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    train_idx = train_idx[_stratified_subset(labels[train_idx], max_samples, seed)]
    val_idx = val_idx[_stratified_subset(labels[val_idx], max_samples, seed)]
    test_idx = _stratified_subset(raw["test_y"].numpy(), max_samples, seed)

    out = {
        "train_index": torch.from_numpy(train_idx),
        "val_index": torch.from_numpy(val_idx),
        "test_index": torch.from_numpy(test_idx),
        "train_x": raw["train_x"][train_idx],
        "train_y": raw["train_y"][train_idx],
        "val_x": raw["train_x"][val_idx],
        "val_y": raw["train_y"][val_idx],
        "test_x": raw["test_x"][test_idx],
        "test_y": raw["test_y"][test_idx],
    }
    # Normalisation statistics come from the training split only.
    pixels = out["train_x"].float() / 255.0
    out["mean"] = pixels.mean(dim=(0, 2, 3))
    out["std"] = pixels.std(dim=(0, 2, 3))
    return out


@dataclass
class Split:
    """One split as normalised float images (N, C, H, W) and labels."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def load_splits(path: Path) -> dict[str, Split]:
    """Read the reduce stage's split file as normalised train/val/test tensors."""
    from c2q.io import load_tensors

    t = load_tensors(path)
    mean, std = t["mean"].view(1, -1, 1, 1), t["std"].view(1, -1, 1, 1)
    return {
        s: Split(((t[f"{s}_x"].float() / 255.0) - mean) / std, t[f"{s}_y"])
        for s in ("train", "val", "test")
    }


def mirror_from_env() -> Path | None:
    value = os.environ.get(MIRROR_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None
