"""One MLflow run per stage execution: name, tags, flat params, metrics, artifacts.

MLflow mirrors the files a stage writes; nothing downstream reads from it.
The default store is SQLite at the repository root (`mlflow.db`, artifacts in
`mlartifacts/`), so `mlflow ui` started there shows every run;
MLFLOW_TRACKING_URI overrides it.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from c2q.config import flatten


def repo_root() -> Path:
    """The DVC project root (DVC sets DVC_ROOT for stage commands), else the cwd."""
    return Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


class StageRun:
    """Thin handle over the active MLflow run, with the stage's own vocabulary."""

    def __init__(self, mlflow_module, run_id: str):
        self._mlflow, self.run_id = mlflow_module, run_id

    def log_epoch(self, row: dict[str, float]) -> None:
        step = int(row["epoch"])
        self._mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch"}, step=step)

    def log_metrics(self, metrics: dict[str, Any]) -> None:
        numeric = {k: float(v) for k, v in flatten(metrics).items() if isinstance(v, (int, float))}
        self._mlflow.log_metrics(numeric)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self._mlflow.log_artifacts(str(path), artifact_path)
        else:
            self._mlflow.log_artifact(str(path), artifact_path)


@contextmanager
def stage_run(stage: str, experiment: str, params: dict[str, Any], tags: dict[str, Any]) -> Iterator[StageRun]:
    """Open the MLflow run of one stage execution, named after its DVC stage.

    Connecting happens here, before any work, so an unreachable tracking server
    stops the stage at once instead of after training.
    """
    # Fail within seconds on an unreachable server instead of retrying for minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    if mlflow.get_experiment_by_name(experiment) is None:
        artifacts = (repo_root() / "mlartifacts").as_uri()
        mlflow.create_experiment(experiment, artifact_location=artifacts)
    mlflow.set_experiment(experiment)
    all_tags = {"stage": stage.split("@")[0], "dvc_stage": stage, "git_commit": git_commit(), **tags}
    if os.environ.get("DVC_EXP_NAME"):
        all_tags["dvc_exp"] = os.environ["DVC_EXP_NAME"]
    with mlflow.start_run(run_name=stage) as run:
        mlflow.set_tags({k: str(v) for k, v in all_tags.items()})
        mlflow.log_params({k: str(v) for k, v in flatten(params).items()})
        yield StageRun(mlflow, run.info.run_id)
