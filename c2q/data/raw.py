"""Raw datasets: fetch (torchvision or an offline mirror), verify, load as tensors.

Raw files live in torchvision's layout (`<root>/MNIST/raw/...`,
`<root>/cifar-10-batches-py/...`), so they are the same whether they came from
the real download or from a mirror folder named by C2Q_DATA_MIRROR. `digits`
is scikit-learn's bundled 8x8 digits and needs no download at all.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from c2q.core.datasets import DATASETS as INFO
from c2q.core.errors import DatasetFileError
from c2q.core.io import file_digest, load_tensors, save_tensors

MIRROR_ENV = "C2Q_DATA_MIRROR"


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset's raw files come from and how they are read; its shape is in `c2q.core.datasets`."""

    files: dict[str, tuple[str, str]]  # path under the root -> (hash algorithm, hex digest)
    fetch: Callable[[str, Path, "Path | None"], str]
    load: Callable[[str, Path], dict[str, torch.Tensor]]


# ---- MNIST and Fashion-MNIST: IDX files ----

def _idx_files(folder: str, digests: list[str]) -> dict[str, tuple[str, str]]:
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    return {f"{folder}/raw/{n}": ("sha256", d) for n, d in zip(names, digests)}


def _read_idx(path: Path, ndim: int) -> torch.Tensor:
    """Read a uint8 IDX file, checking its header so a wrong file names itself."""
    raw = path.read_bytes()
    if len(raw) < 4 + 4 * ndim or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise DatasetFileError(f"{path}: not a uint8 IDX file with {ndim} dimension(s) (bad header)")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise DatasetFileError(f"{path}: header says {dims} but the file holds {len(body)} bytes of data")
    return torch.from_numpy(np.frombuffer(body, dtype=np.uint8).reshape(dims).copy())


def _load_idx(name: str, root: Path) -> dict[str, torch.Tensor]:
    raw = root / _FOLDERS[name] / "raw"
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        out[f"{split}_x"] = _read_idx(raw / f"{prefix}-images-idx3-ubyte", 3).unsqueeze(1).contiguous()
        out[f"{split}_y"] = _read_idx(raw / f"{prefix}-labels-idx1-ubyte", 1).long()
    return out


def _fetch_torchvision(name: str, root: Path, mirror: Path | None) -> str:
    """Copy from the mirror (raw or .gz files) or let torchvision download."""
    spec = SOURCES[name]
    if mirror is not None:
        for rel in spec.files:
            _copy_from_mirror(mirror, rel, root / rel, archive=_ARCHIVES.get(name))
        return "mirror"  # not its path: the manifest must not change when the mirror moves
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION[name])
    for train in (True, False):
        cls(str(root), train=train, download=True)
    for archive in root.rglob("*.gz"):
        archive.unlink()  # keep only the files that are checksummed
    return "torchvision"


def _copy_from_mirror(mirror: Path, rel: str, dest: Path, archive: str | None = None) -> None:
    """Copy one file out of the mirror, decompressing `<rel>.gz` or extracting from a tarball."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    plain, gz = mirror / rel, mirror / f"{rel}.gz"
    try:
        if plain.is_file():
            shutil.copyfile(plain, dest)
        elif gz.is_file():
            with gzip.open(gz, "rb") as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
        elif archive and (mirror / archive).is_file():
            with tarfile.open(mirror / archive, "r:gz") as tar:
                member = tar.extractfile(rel)
                if member is None:
                    raise DatasetFileError(f"{mirror / archive} holds no file {rel}")
                with open(dest, "wb") as out:
                    shutil.copyfileobj(member, out)
        else:
            tried = [str(plain), str(gz)] + ([str(mirror / archive)] if archive else [])
            raise DatasetFileError(f"the mirror has no {rel}: tried {', '.join(tried)}")
    except KeyError:
        raise DatasetFileError(f"{mirror / archive} holds no file {rel}") from None
    except (OSError, EOFError, zlib.error, tarfile.TarError) as e:
        raise DatasetFileError(f"cannot read mirror file for {rel}: {e}") from None


# ---- CIFAR-10: python pickles, read without running arbitrary code ----

class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only dicts, lists, bytes, strings, numbers and numpy arrays; nothing runs code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 pickles bytes with protocol 2
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        data, labels = batch[b"data"], np.asarray(batch[b"labels"], dtype=np.int64)
    except FileNotFoundError:
        raise DatasetFileError(f"{path} is missing") from None
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise DatasetFileError(f"{path}: not a CIFAR-10 python batch ({e})") from None
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DatasetFileError(
            f"{path}: expected uint8 data of shape (N, 3072) and N labels, "
            f"got {data.dtype} {data.shape} and {len(labels)} labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def _load_cifar(name: str, root: Path) -> dict[str, torch.Tensor]:
    folder = root / "cifar-10-batches-py"
    train = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    test_x, test_y = _read_cifar_batch(folder / "test_batch")
    return {
        "train_x": torch.from_numpy(np.concatenate([x for x, _ in train])),
        "train_y": torch.from_numpy(np.concatenate([y for _, y in train])),
        "test_x": torch.from_numpy(test_x),
        "test_y": torch.from_numpy(test_y),
    }


# torchvision's MD5 sums of the canonical CIFAR-10 python batches.
CIFAR10_FILES = {
    f"cifar-10-batches-py/{name}": ("md5", md5)
    for name, md5 in [
        ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
        ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
        ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
        ("data_batch_4", "634d18415352ddfa80567beed471001a"),
        ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
        ("test_batch", "40351d587109b95175f43aff81a1287e"),
    ]
}


# ---- digits: scikit-learn's bundled 8x8 images, no download ----

DIGITS_TEST_FRACTION, DIGITS_TEST_SEED = 0.2, 0


def _fetch_digits(name: str, root: Path, mirror: Path | None) -> str:
    """Write scikit-learn's digits with a fixed stratified 20% test split (it has no official one)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    train, test = train_test_split(
        np.arange(len(images)), test_size=DIGITS_TEST_FRACTION, stratify=digits.target,
        random_state=DIGITS_TEST_SEED,
    )
    train, test = np.sort(train), np.sort(test)
    arrays = {
        "train_x": images[train], "train_y": digits.target[train],
        "test_x": images[test], "test_y": digits.target[test],
    }
    save_tensors({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, root / "digits.pt")
    return "scikit-learn"


def _load_digits(name: str, root: Path) -> dict[str, torch.Tensor]:
    raw = load_tensors(root / "digits.pt")
    return {k: v.long() if k.endswith("_y") else v for k, v in raw.items()}


_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
_ARCHIVES = {"cifar10": "cifar-10-python.tar.gz"}

SOURCES: dict[str, DatasetSource] = {
    "mnist": DatasetSource(
        _idx_files("MNIST", [
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ]),
        _fetch_torchvision, _load_idx,
    ),
    "fashion_mnist": DatasetSource(
        _idx_files("FashionMNIST", [
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ]),
        _fetch_torchvision, _load_idx,
    ),
    "cifar10": DatasetSource(
        CIFAR10_FILES, _fetch_torchvision, _load_cifar,
    ),
    "digits": DatasetSource({}, _fetch_digits, _load_digits),
}


def verify_checksums(name: str, root: Path) -> None:
    """Stop with a message naming the first file whose checksum is wrong or missing."""
    for rel, (algorithm, expected) in SOURCES[name].files.items():
        path = root / rel
        if not path.is_file():
            raise DatasetFileError(f"{name}: expected file {path} is missing")
        actual = file_digest(path, algorithm)
        if actual != expected:
            raise DatasetFileError(
                f"{name}: checksum mismatch for {path}\n  expected {algorithm} {expected}\n"
                f"  got      {algorithm} {actual}\nThe file is damaged or not the canonical dataset; replace it."
            )


def fetch(name: str, root: Path, mirror: Path | None = None) -> str:
    """Put the raw files of dataset `name` under `root`, verify them, check they load.

    With a mirror folder (torchvision's layout) files are copied out of it;
    otherwise torchvision downloads them. Returns where they came from:
    "mirror", "torchvision" or "scikit-learn".
    """
    if mirror is not None and not mirror.is_dir():
        raise DatasetFileError(f"{MIRROR_ENV}={mirror} is not a directory")
    source = SOURCES[name].fetch(name, root, mirror)
    verify_checksums(name, root)
    load_raw(name, root)  # a file that passes its checksum must also parse
    return source


def load_raw(name: str, root: Path) -> dict[str, torch.Tensor]:
    """Official train and test sets as uint8 images (N, C, H, W) and int64 labels."""
    raw = SOURCES[name].load(name, root)
    expected = INFO[name].image_shape
    for split in ("train", "test"):
        if tuple(raw[f"{split}_x"].shape[1:]) != expected:
            raise DatasetFileError(f"{name}: {split} images have shape {tuple(raw[f'{split}_x'].shape[1:])}, expected {expected}")
    return raw


def mirror_from_env() -> Path | None:
    value = os.environ.get(MIRROR_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None
