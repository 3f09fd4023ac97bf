"""One MLflow run per stage execution: name, tags, flat params, metrics, artifacts.

MLflow mirrors the files a stage writes; nothing downstream reads from it.
The default store is SQLite at the repository root (`mlflow.db`, artifacts in
`mlartifacts/`), so `mlflow ui` started there shows every run;
MLFLOW_TRACKING_URI overrides it.

Metric names: per-epoch curves (`train_loss`, `train_accuracy`, `val_loss`,
`val_accuracy`) are logged with step = epoch and nothing else is logged under
those keys; a stage's final numbers (`best_val_accuracy`, `test_error`, ...)
have names of their own, the same as in its metrics file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator

from c2q.errors import StageInputError, TrackingStoreError
from c2q.invocation import pipeline_run_id, repo_root
from c2q.io import file_md5

CURVE_KEYS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}, for logging params and metrics to MLflow."""
    flat: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, f"{key}."))
        else:
            flat[key] = v
    return flat


def numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of (nested) metrics as dotted keys; strings and booleans are not metrics."""
    return {k: float(v) for k, v in flatten(metrics).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def input_files(paths: list[Path]) -> list[Path]:
    """The files of a stage's inputs, directories expanded (sorted, hidden files skipped)."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            files.append(path)
    return files


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def _store_lock(uri: str):
    """Serialises the first connection to a SQLite store: MLflow creates and migrates
    the database on first use, and two stages doing that at once corrupt its version table."""
    if not uri.startswith("sqlite:///"):
        return nullcontext()
    from filelock import FileLock

    return FileLock(uri[len("sqlite:///"):] + ".lock", timeout=600)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _parent_run(mlflow_module, experiment_id: str, group: str) -> str:
    """The run that groups one invocation's stage runs in `mlflow ui` (created by its first stage)."""
    client = mlflow_module.MlflowClient()
    found = client.search_runs([experiment_id], f"tags.pipeline_run = '{group}' and tags.role = 'pipeline'", max_results=1)
    if found:
        return found[0].info.run_id
    name = os.environ.get("DVC_EXP_NAME") or f"pipeline {group}"
    parent = client.create_run(experiment_id, run_name=name, tags={"pipeline_run": group, "role": "pipeline"})
    client.set_terminated(parent.info.run_id)
    return parent.info.run_id


def _close_killed_runs(client, experiment_id: str, stage: str) -> list[str]:
    """Mark this stage's earlier runs KILLED whose process died without ending them (SIGKILL, OOM).

    Only runs started on this host by a process that no longer exists are
    touched; a run of the same stage still going elsewhere is left alone.
    """
    import psutil

    host, closed = socket.gethostname(), []
    running = client.search_runs(
        [experiment_id], f"tags.dvc_stage = '{stage}' and attributes.status = 'RUNNING'", max_results=100
    )
    for run in running:
        tags = run.data.tags
        if tags.get("host") != host or not tags.get("pid", "").isdigit():
            continue
        pid = int(tags["pid"])
        try:
            alive = psutil.Process(pid).create_time() <= run.info.start_time / 1000 + 1
        except psutil.Error:
            alive = False
        if not alive:
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    return closed


class StageRun:
    """Thin handle over the active MLflow run, with the stage's own vocabulary."""

    def __init__(self, mlflow_module, run_id: str):
        self._mlflow, self.run_id = mlflow_module, run_id

    def log_epoch(self, row: dict[str, float]) -> None:
        """One point of each learning curve, at step = epoch."""
        self._mlflow.log_metrics({k: float(row[k]) for k in CURVE_KEYS}, step=int(row["epoch"]))

    def log_metrics(self, metrics: dict[str, Any]) -> None:
        """A stage's final numbers (nested dicts flattened to dotted keys; non-numbers skipped)."""
        numeric = numbers(metrics)
        if clash := set(numeric) & set(CURVE_KEYS):
            raise ValueError(f"{sorted(clash)} name per-epoch curves; give final numbers their own names")
        self._mlflow.log_metrics(numeric)

    def log_inputs(self, paths: list[Path]) -> dict[str, str]:
        """Record every input file as an MLflow dataset input named by its path, with its MD5 digest
        (the one dvc.lock records); returns {path: md5}."""
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource

        files = input_files(paths)
        if missing := [str(p) for p in files if not p.is_file()]:
            raise StageInputError(missing, "this stage's input files are missing")
        digests = {str(p): file_md5(p) for p in files}
        datasets = [MetaDataset(LocalArtifactDatasetSource(path), name=path, digest=md5)
                    for path, md5 in digests.items()]
        if datasets:
            self._mlflow.log_inputs(datasets, contexts=["input"] * len(datasets), tags_list=[None] * len(datasets))
        return digests

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_training(self, run_name: str, params: dict[str, Any], metrics: dict[str, Any],
                     curve: list[dict[str, float]], tags: dict[str, Any]) -> None:
        """One training of a stage that runs many (the study's cells) as an MLflow run of its own, nested
        under the stage's run: its params, final metrics, curve (step = optimiser step) and tags."""
        from mlflow.entities import Metric, Param

        client, parent = self._mlflow.MlflowClient(), self._mlflow.get_run(self.run_id)
        own = {k: str(v) for k, v in tags.items() if v is not None}
        inherited = {k: v for k, v in parent.data.tags.items() if not k.startswith("mlflow.") and k not in own}
        run = client.create_run(parent.info.experiment_id, run_name=run_name,
                                tags={**inherited, **own, "mlflow.parentRunId": self.run_id})
        numeric = numbers(metrics)
        now = int(time.time() * 1000)
        rows = [Metric(k, v, now, 0) for k, v in numeric.items()]
        rows += [Metric(k, float(point[k]), now, int(point["step"])) for point in curve for k in point if k != "step"]
        client.log_batch(run.info.run_id, metrics=rows,
                         params=[Param(k, str(v)) for k, v in flatten(params).items() if v is not None])
        client.set_terminated(run.info.run_id)

    def log_artifact(self, path: str | Path) -> None:
        """Log a file under the same relative folder it has in the repository."""
        path = Path(path)
        folder = str(path.parent) if not path.is_absolute() and str(path.parent) != "." else None
        self._mlflow.log_artifact(str(path), folder)


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

    uri = tracking_uri()
    # The local store keeps artifacts beside mlflow.db; a server decides for itself. Decided before
    # set_tracking_uri, which also sets MLFLOW_TRACKING_URI in this process.
    local = not os.environ.get("MLFLOW_TRACKING_URI")
    group = pipeline_run_id()
    try:
        with _store_lock(uri):
            mlflow.set_tracking_uri(uri)
            if mlflow.get_experiment_by_name(experiment) is None:
                location = (repo_root() / "mlartifacts").as_uri() if local else None
                mlflow.create_experiment(experiment, artifact_location=location)
            experiment_id = mlflow.set_experiment(experiment).experiment_id
            parent = _parent_run(mlflow, experiment_id, group)
            _close_killed_runs(mlflow.MlflowClient(), experiment_id, stage)
    except Exception as e:  # connection refused, bad URI, unwritable store, ...
        raise TrackingStoreError(
            f"cannot use the MLflow tracking store {uri}: {type(e).__name__}: {str(e).splitlines()[0][:300]}\n"
            "Start the tracking server, fix MLFLOW_TRACKING_URI, or unset it to log to mlflow.db "
            "in the repository root. Nothing was trained."
        ) from None
    all_tags = {
        "stage": stage.split("@")[0], "dvc_stage": stage, "git_commit": git_commit(), "pipeline_run": group,
        "mlflow.parentRunId": parent, "host": socket.gethostname(), "pid": os.getpid(), **tags,
    }
    if os.environ.get("DVC_EXP_NAME"):
        all_tags["dvc_exp"] = os.environ["DVC_EXP_NAME"]
    with mlflow.start_run(run_name=stage) as run:
        mlflow.set_tags({k: str(v) for k, v in all_tags.items()})
        mlflow.log_params({k: str(v) for k, v in flatten(params).items()})
        yield StageRun(mlflow, run.info.run_id)
