"""Files are the truth: write them atomically, read them without unpickling code."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    An interrupted or failing stage therefore never leaves a file (or directory)
    under the final name that DVC or a later stage could take as finished.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def load_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def save_torch(obj: Any, path: str | Path) -> None:
    """torch.save, atomically: tensors, and dicts or lists of them and of plain numbers and strings."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # opened here, so Python's audit hooks see the write
        torch.save(obj, f)


def load_torch(path: str | Path) -> Any:
    """torch.load with `weights_only=True`, which refuses pickled code."""
    return torch.load(path, map_location="cpu", weights_only=True)


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    """Save a flat dict of tensors (weights, logits, splits), detached and on the CPU."""
    save_torch({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, path)


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    return load_torch(path)


def file_md5(path: str | Path) -> str:
    """MD5 of a file's bytes: the digest `dvc.lock` records for it."""
    return file_digest(path, "md5")


def file_digest(path: str | Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
