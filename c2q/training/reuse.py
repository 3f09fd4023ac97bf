"""Which trainings a stage must run: a key per training, and the results already on disk.

A stage that trains many (every seed of a student, every arm of a study cell)
gives each training a key over everything its result depends on: its
definition, the params, its seed, the digests of the input files and of the
code. A training whose metrics file (written last) holds the same key is not
run again, so adding a seed or a setting trains only the new ones; every other
file (of a training no longer asked for, or one to train again) is removed
before training starts, so no stale result is left looking valid. DVC keeps such a stage's folders
between runs (`persist: true`) for that reason.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from c2q.core.io import file_md5, load_json


def training_key(*parts) -> str:
    """A short hash of `parts` (anything JSON can write)."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def code_digests(files: tuple[str, ...]) -> dict[str, str]:
    """MD5 of each code file a stage's results depend on (the code deps dvc.yaml lists for it)."""
    return {path: file_md5(path) for path in files}


def is_done(metrics_file: Path, key: str) -> bool:
    """The training's metrics file is there and was written for this key."""
    try:
        return load_json(metrics_file).get("key") == key
    except (OSError, ValueError, AttributeError):
        return False  # missing or damaged: trained again


def remove_stale(folders: list[Path], keep: set[str]) -> list[Path]:
    """Delete the files in `folders` whose name without its suffix is not in `keep`; returns them."""
    stale = [p for folder in folders if folder.is_dir() for p in sorted(folder.iterdir())
             if p.is_file() and p.stem not in keep]
    for path in stale:
        path.unlink()
    return stale
