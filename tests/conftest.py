"""Shared fixtures: the repository root and the offline dataset mirror; setting one key of parsed params."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def set_key(params: dict, key: str, value) -> dict:
    """Set the dotted `key` (e.g. `distill.alpha`) of parsed params to `value`; returns `params`."""
    *parents, leaf = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[leaf] = value
    return params


def mirror_path() -> Path | None:
    """The offline mirror: $C2Q_DATA_MIRROR, else ../shared/datasets beside the repo."""
    configured = os.environ.get("C2Q_DATA_MIRROR")
    if configured:
        path = Path(configured)
        assert path.is_dir(), f"C2Q_DATA_MIRROR={configured} is not a directory"
        return path.resolve()
    default = REPO.parent / "shared" / "datasets"
    return default.resolve() if default.is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_path()
    if path is None:
        pytest.skip("no offline dataset mirror: set C2Q_DATA_MIRROR (tests never download)")
    return path
