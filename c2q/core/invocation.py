"""Which repository and which `dvc repro` / `dvc exp run` invocation a stage process belongs to.

A leaf module of the standard library and psutil only, so the light stage
launcher (`python -m stages`) can name the invocation before any heavy import.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def repo_root() -> Path:
    """The repository whose `mlflow.db` receives the runs.

    DVC sets DVC_ROOT for stage commands. `dvc exp run --temp` and `--queue`
    run stages in a copy under `<repo>/.dvc/tmp/exps/...`; their runs go to
    `<repo>`'s store, not to the copy that DVC deletes afterwards.
    """
    root = Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()
    for parent in (root, *root.parents):
        if parent.name == ".dvc":
            return parent.parent
    return root


def pipeline_run_id() -> str:
    """One id shared by every stage of one `dvc repro` / `dvc exp run` invocation.

    DVC runs each stage as a child process and tells it nothing about the
    invocation, so the id is the nearest `dvc` ancestor process (pid and start
    time), plus the experiment name under `dvc exp run`. C2Q_PIPELINE_RUN
    overrides it.
    """
    if os.environ.get("C2Q_PIPELINE_RUN"):
        return os.environ["C2Q_PIPELINE_RUN"]
    import psutil

    exp = os.environ.get("DVC_EXP_NAME")
    proc = psutil.Process().parent()
    while proc is not None:
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            break
        if any(os.path.basename(part) == "dvc" or part == "dvc" for part in cmd[:3]):
            base = f"dvc-{proc.pid}-{int(proc.create_time())}"
            return f"{exp}-{base}" if exp else base
        proc = proc.parent()
    return f"manual-{os.getpid()}-{int(time.time())}"
