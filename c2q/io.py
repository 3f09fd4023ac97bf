"""Files are the truth: write them atomically, read them without unpickling code."""

from __future__ import annotations

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


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    """Save a flat dict of tensors (weights, logits, splits)."""
    with atomic_path(path) as tmp:
        torch.save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp)


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a dict of tensors; `weights_only=True` refuses pickled code."""
    return torch.load(path, map_location="cpu", weights_only=True)
