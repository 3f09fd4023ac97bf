"""Where a stage's time goes, by kind of work: for `benchmarks.pipeline_cost`, off unless asked for.

With C2Q_PROFILE naming a folder, every stage process writes one JSON file
there when it ends: when its command started (the `python -m stages` client),
when its `main` started and ended, and the seconds spent inside calls to the
tracking store (every MLflow call goes through c2q.tracking.runs.retrying)
and reading or writing training checkpoints (torch.save and torch.load on a
path under .checkpoints/). The client adds when it ended, so the benchmark
can tell start-up (command start to `main`), tracking, checkpoints, the
stage's own work (the rest of `main`) and DVC (what lies between commands).
Without C2Q_PROFILE nothing is timed and nothing written.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PROFILE_ENV = "C2Q_PROFILE"  # the folder the records go to
ID_ENV = "C2Q_PROFILE_ID"  # one command's records: the client's and its stage process's
CLIENT_START_ENV = "C2Q_PROFILE_CLIENT_START"  # when the command's process started (Unix time)
CHECKPOINTS = ".checkpoints"

_seconds: dict[str, float] = {}
_inside: set[str] = set()  # kinds being timed now: a nested call is counted once, by the outermost
_main_start: float | None = None


def enabled() -> bool:
    return bool(os.environ.get(PROFILE_ENV))


@contextmanager
def timed(kind: str) -> Iterator[None]:
    """Add the block's wall time to `kind` (when profiling, and not already inside a block of `kind`)."""
    if not enabled() or kind in _inside:
        yield
        return
    _inside.add(kind)
    start = time.perf_counter()
    try:
        yield
    finally:
        _seconds[kind] = _seconds.get(kind, 0.0) + time.perf_counter() - start
        _inside.discard(kind)


def client_started() -> None:
    """In the `python -m stages` client, before it runs or hands over the stage: name this command's
    records and note when its process started."""
    if not enabled():
        return
    import psutil

    os.environ[ID_ENV] = uuid.uuid4().hex
    os.environ[CLIENT_START_ENV] = repr(psutil.Process().create_time())


def client_ended(argv: list[str]) -> None:
    """In the client, once the stage's exit code is back."""
    if enabled() and os.environ.get(ID_ENV):
        _write("client", {"argv": argv, "start": float(os.environ[CLIENT_START_ENV]), "end": time.time()})


def main_started() -> None:
    """In the stage's process, as its `main` starts: from here on, checkpoint reads and writes are timed."""
    global _main_start
    if not enabled():
        return
    _main_start = time.time()
    _seconds.clear()
    _time_checkpoints()


def main_ended(argv: list[str]) -> None:
    if enabled() and _main_start is not None and os.environ.get(ID_ENV):
        _write("stage", {"argv": argv, "main_start": _main_start, "main_end": time.time(), "seconds": dict(_seconds)})


def _write(role: str, record: dict) -> None:
    folder = Path(os.environ[PROFILE_ENV])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{os.environ[ID_ENV]}.{role}.json").write_text(json.dumps(record) + "\n")


def _time_checkpoints() -> None:
    """Time torch.save and torch.load on checkpoint files (the engine's; c2q.core.io's atomic writes give
    a file object whose name is a temporary path beside the checkpoint)."""
    import torch

    if getattr(torch.save, "_c2q_timed", False):
        return

    def is_checkpoint(target) -> bool:
        name = getattr(target, "name", target)
        return isinstance(name, (str, os.PathLike)) and CHECKPOINTS in Path(name).parts

    def wrap(call):
        def timed_call(obj_or_file, *args, **kwargs):
            target = obj_or_file if call is torch.load else (args[0] if args else kwargs.get("f"))
            if not is_checkpoint(target):
                return call(obj_or_file, *args, **kwargs)
            with timed("checkpoint"):
                return call(obj_or_file, *args, **kwargs)
        timed_call._c2q_timed = True
        return timed_call

    torch.save, torch.load = wrap(torch.save), wrap(torch.load)
