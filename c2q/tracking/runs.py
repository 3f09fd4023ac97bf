"""One MLflow run per stage execution: name, tags, flat params, metrics, artifacts.

MLflow mirrors the files a stage writes; nothing downstream reads from it.
The default store is SQLite at the repository root (`mlflow.db`, artifacts in
`mlartifacts/`), so `mlflow ui` started there shows every run;
MLFLOW_TRACKING_URI overrides it, for example with a lab's shared server
(c2q.tracking.server). Every call to the store is retried while it is
unreachable, for at most C2Q_TRACKING_RETRY_S seconds; then the stage fails,
and a run is marked FINISHED only after everything in it was logged.

Metric names: learning curves (`train_loss`, `train_accuracy`, `val_loss`,
`val_accuracy`, and `epoch`) are logged with step = optimiser step, one point
per validation pass, and nothing else is logged under those keys; final
numbers (`best_val_accuracy`, `test_error`, ...) have names of their own, the
same as in the metrics file.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from c2q.core import timing
from c2q.core.errors import StageInputError, TrackingStoreError
from c2q.core.invocation import pipeline_run_id, repo_root
from c2q.core.io import file_md5

CURVE_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
RETRY_ENV = "C2Q_TRACKING_RETRY_S"
DEFAULT_RETRY_SECONDS = 120
ATTEMPT_TAG = "c2q_attempt"  # makes creating a run safe to retry (`_create_run`)
NOTHING_TRAINED = ("Nothing was trained. Start the tracking server, fix MLFLOW_TRACKING_URI, or unset it to log "
                   "to mlflow.db in the repository root.")
AFTER_A_FAILED_STAGE = ("The stage failed and its MLflow run is not marked FINISHED. Once the tracking store "
                        "answers again, run `dvc repro` again.")
T = TypeVar("T")


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


def retry_seconds() -> float:
    """How long one call may keep retrying an unreachable tracking store (C2Q_TRACKING_RETRY_S, default 120)."""
    value = os.environ.get(RETRY_ENV, str(DEFAULT_RETRY_SECONDS))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise TrackingStoreError(f"{RETRY_ENV}={value!r}: give the number of seconds to retry, 0 or more")
    return seconds


def _transient(error: Exception) -> bool:
    """A failure that a restarting server recovers from: no connection, a timeout, an HTTP 429 or 5xx."""
    import requests
    from mlflow.exceptions import MlflowException

    if isinstance(error, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return True
    if isinstance(error, requests.HTTPError):
        return error.response is not None and (error.response.status_code == 429 or error.response.status_code >= 500)
    if isinstance(error, MlflowException):  # MLflow wraps transport errors as "API request to ... failed with exception"
        return "failed with exception" in error.message or error.get_http_status_code() in (429, 500, 502, 503, 504)
    return False


def retrying(call: Callable[[], T], what: str, advice: str = AFTER_A_FAILED_STAGE, budget: float | None = None) -> T:
    """`call()`, retried while the tracking store is unreachable, for at most `budget` seconds
    (C2Q_TRACKING_RETRY_S); then a TrackingStoreError naming the store, what was being done and `advice`.
    Only transient failures are retried; anything else (a bad param, a missing run) is raised at once."""
    with timing.timed("tracking"):
        return _retrying(call, what, advice, retry_seconds() if budget is None else budget)


def _retrying(call: Callable[[], T], what: str, advice: str, budget: float) -> T:
    deadline, wait, warned = time.monotonic() + budget, 0.5, False
    while True:
        try:
            return call()
        except Exception as e:
            if not _transient(e):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise TrackingStoreError(
                    f"the MLflow tracking store {tracking_uri()} did not answer while {what}; retried for "
                    f"{budget:g} s ({RETRY_ENV} sets how long): {_first_line(e)}\n{advice}") from None
            if not warned:
                print(f"warning: the MLflow tracking store {tracking_uri()} did not answer while {what}; retrying "
                      f"for up to {budget:g} s", file=sys.stderr, flush=True)
                warned = True
            time.sleep(min(wait, left))
            wait = min(2 * wait, 5.0)


def _first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"


def _store_lock(uri: str):
    """Serialises the first connection to a SQLite store: MLflow creates and migrates
    the database on first use, and two stages doing that at once corrupt its version table."""
    if not uri.startswith("sqlite:///"):
        return nullcontext()
    from filelock import FileLock

    return FileLock(uri[len("sqlite:///"):] + ".lock", timeout=600)


@functools.cache
def _tune_sqlite() -> None:
    """Every SQLite connection of this process in WAL mode with synchronous=NORMAL: a write-ahead log
    instead of a rollback journal, and one fsync per checkpoint of it instead of several per transaction.
    A logged run costs a few SQLite transactions; in the default rollback mode each waits for the disk.
    A process that dies loses nothing committed (only a power cut can lose the last transactions), and
    readers no longer block writers, so stages logging at once wait less for each other. Once per process
    (cached): the listener applies to every engine made after it."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _on_connect(connection, _record) -> None:
        if isinstance(connection, sqlite3.Connection):
            cursor = connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.OperationalError:  # another connection holds a lock: keep its mode for now
                pass
            finally:
                cursor.close()


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


# The experiment's kind: a model-training experiment. MLflow 3.17's UI opens it on the browser's workflow
# type instead (c2q.tracking.ui prints the link that opens its runs); the UI reads this tag where its
# workflow switch is off.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def _experiment_id(client, name: str, local: bool) -> str:
    """The experiment's id, created on first use as a model-training experiment (EXPERIMENT_KIND, also
    set on one an earlier version created); two stages creating it at once both get the one that won."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        location = (repo_root() / "mlartifacts").as_uri() if local else None  # a server decides for itself
        try:
            return client.create_experiment(name, artifact_location=location, tags=dict([EXPERIMENT_KIND]))
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = client.get_experiment_by_name(name)
    if found.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        client.set_experiment_tag(found.experiment_id, *EXPERIMENT_KIND)
    return found.experiment_id


def _parent_run(client, experiment_id: str, group: str) -> str:
    """The run that groups one invocation's stage runs in `mlflow ui` (created by its first stage)."""
    found = client.search_runs([experiment_id], f"tags.pipeline_run = '{group}' and tags.role = 'pipeline'", max_results=1)
    if found:
        return found[0].info.run_id
    name = os.environ.get("DVC_EXP_NAME") or f"pipeline {group}"
    parent = _create_run(client, experiment_id, name, {"pipeline_run": group, "role": "pipeline"})()
    client.set_terminated(parent)
    return parent


def _create_run(client, experiment_id: str, name: str, tags: dict[str, str]) -> Callable[[], str]:
    """A call that creates the run once however often it is retried: each run carries a random ATTEMPT_TAG,
    and a retry first looks for it, since a reply lost on its way back may hide a run the server made."""
    from mlflow.entities import ViewType

    attempt, tried = uuid.uuid4().hex, False

    def create() -> str:
        nonlocal tried
        if tried:
            found = client.search_runs([experiment_id], f"tags.{ATTEMPT_TAG} = '{attempt}'", ViewType.ALL, 1)
            if found:
                return found[0].info.run_id
        tried = True
        return client.create_run(experiment_id, run_name=name, tags={**tags, ATTEMPT_TAG: attempt}).info.run_id

    return create


def _close_killed_runs(client, experiment_id: str, stage: str) -> list[str]:
    """Mark this stage's earlier runs KILLED whose process died without ending them (SIGKILL, OOM, a lost store).

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


def _metrics(values: dict[str, float], step: int = 0) -> list:
    """MLflow metric rows stamped once, so a retried call logs the very same rows (the store keeps one of each)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, step) for k, v in values.items()]


def _curve_rows(curve: list[dict[str, float]]) -> list:
    return [row for point in curve for row in _metrics({k: point[k] for k in CURVE_KEYS if k in point},
                                                        step=int(point["step"]))]


class StageRun:
    """The MLflow run of one stage execution, in the stage's own vocabulary; every call is retried
    for a bounded time while the tracking store is unreachable (`retrying`)."""

    def __init__(self, client, run_id: str, experiment_id: str | None = None, tags: dict[str, str] | None = None):
        """`experiment_id` and `tags`: the run's, as it was created (kept here, so that a training's run,
        which inherits them, costs no read of this one)."""
        self._client, self.run_id = client, run_id
        self._experiment_id, self._tags = experiment_id, dict(tags or {})

    def _log_batch(self, what: str, **rows: list) -> None:
        """Metrics, params or tags in one request, retried (`retrying`); rows are built once, so a retry
        sends the very same rows."""
        retrying(lambda: self._client.log_batch(self.run_id, **rows), what)

    def log_curve(self, curve: list[dict[str, float]]) -> None:
        """Learning curves: every point of `curve` (rows with `step` and CURVE_KEYS) at its optimiser step."""
        self._log_batch("logging the learning curve", metrics=_curve_rows(curve))

    def log_metrics(self, metrics: dict[str, Any]) -> None:
        """A stage's final numbers (nested dicts flattened to dotted keys; non-numbers skipped)."""
        numeric = numbers(metrics)
        if clash := set(numeric) & set(CURVE_KEYS):
            raise ValueError(f"{sorted(clash)} name per-epoch curves; give final numbers their own names")
        rows = _metrics(numeric)
        self._log_batch("logging the stage's metrics", metrics=rows)

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        rows = [Param(k, str(v)) for k, v in flatten(params).items()]
        self._log_batch("logging the stage's params", params=rows)

    def log_inputs(self, paths: list[Path]) -> dict[str, str]:
        """Record every input file as an MLflow dataset input named by its path, with its MD5 digest
        (the one dvc.lock records); returns {path: md5}."""
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        files = input_files(paths)
        if missing := [str(p) for p in files if not p.is_file()]:
            raise StageInputError(missing, "this stage's input files are missing")
        digests = {str(p): file_md5(p) for p in files}
        inputs = [DatasetInput(MetaDataset(LocalArtifactDatasetSource(path), name=path, digest=md5)._to_mlflow_entity(),
                               tags=[InputTag(MLFLOW_DATASET_CONTEXT, "input")]) for path, md5 in digests.items()]
        if inputs:
            retrying(lambda: self._client.log_inputs(self.run_id, datasets=inputs), "logging the stage's inputs")
        return digests

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        rows = [RunTag(k, str(v)) for k, v in tags.items()]
        self._log_batch("setting tags", tags=rows)
        self._tags.update({row.key: row.value for row in rows})

    def log_training(self, run_name: str, params: dict[str, Any], metrics: dict[str, Any],
                     curve: list[dict[str, float]], tags: dict[str, Any], artifacts: tuple[Path, ...] = (),
                     log_model: Callable[[str], Any] | None = None) -> None:
        """One training of a stage that runs many (every seed of a student, a study cell's arms) as an MLflow
        run of its own, nested under the stage's run: its params, final metrics, curve (step = optimiser
        step), tags and files; `log_model(run_id)` logs its MLflow model (c2q.tracking.models)."""
        from mlflow.entities import Param

        client = self._client
        own = {k: str(v) for k, v in tags.items() if v is not None}
        inherited = {k: v for k, v in self._tags.items()
                     if not k.startswith("mlflow.") and k not in own and k != ATTEMPT_TAG}
        create = _create_run(client, self._experiment_id, run_name,
                             {**inherited, **own, "mlflow.parentRunId": self.run_id})
        run_id = retrying(create, f"logging {run_name}")
        rows = _metrics(numbers(metrics)) + _curve_rows(curve)
        params_rows = [Param(k, str(v)) for k, v in flatten(params).items() if v is not None]
        retrying(lambda: client.log_batch(run_id, metrics=rows, params=params_rows), f"logging {run_name}")
        for path in artifacts:
            StageRun(client, run_id).log_artifact(path)
        if log_model is not None:
            retrying(lambda: log_model(run_id), f"logging {run_name}'s model")
        retrying(lambda: client.set_terminated(run_id), f"logging {run_name}")

    def in_store(self, call: Callable[[Any, str], T], what: str) -> T:
        """`call(client, experiment id)` against this run's store and experiment, retried like every call
        here (so `call` must be safe to repeat)."""
        return retrying(lambda: call(self._client, self._experiment_id), what)

    def log_artifact(self, path: str | Path) -> None:
        """Log a file under the same relative folder it has in the repository."""
        path = Path(path)
        folder = str(path.parent) if not path.is_absolute() and str(path.parent) != "." else None
        retrying(lambda: self._client.log_artifact(self.run_id, str(path), folder), f"logging {path}")


@contextmanager
def stage_run(stage: str, experiment: str, params: dict[str, Any], tags: dict[str, Any]) -> Iterator[StageRun]:
    """Open the MLflow run of one stage execution, named after its DVC stage; FINISHED only once the
    stage's body and every call in it succeeded, FAILED (when the store still answers) otherwise.

    Connecting happens here, before any work, so a missing tracking server
    stops the stage (after C2Q_TRACKING_RETRY_S) instead of after training.
    """
    # MLflow's own retries would multiply with ours; one request may take at most this long.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    import mlflow
    from mlflow.tracking.context.registry import resolve_tags

    uri = tracking_uri()
    # The local store keeps artifacts beside mlflow.db; a server decides for itself. Decided before
    # set_tracking_uri, which also sets MLFLOW_TRACKING_URI in this process.
    local = not os.environ.get("MLFLOW_TRACKING_URI")
    group = pipeline_run_id()

    def connect() -> tuple[str, str]:
        experiment_id = _experiment_id(client, experiment, local)
        parent = _parent_run(client, experiment_id, group)
        _close_killed_runs(client, experiment_id, stage)
        return experiment_id, parent

    if uri.startswith("sqlite:///"):
        _tune_sqlite()
    try:
        with _store_lock(uri):  # the client's first call creates a new SQLite store
            mlflow.set_tracking_uri(uri)
            client = mlflow.MlflowClient(uri)
            experiment_id, parent = retrying(connect, "connecting, before any work", NOTHING_TRAINED)
    except TrackingStoreError:
        raise
    except Exception as e:  # a bad URI, an unwritable store, ...
        raise TrackingStoreError(f"cannot use the MLflow tracking store {uri}: {_first_line(e)}\n"
                                 f"{NOTHING_TRAINED}") from None
    all_tags = {
        "stage": stage.split("@")[0], "dvc_stage": stage, "git_commit": git_commit(), "pipeline_run": group,
        "mlflow.parentRunId": parent, "host": socket.gethostname(), "pid": os.getpid(), **tags,
    }
    if os.environ.get("DVC_EXP_NAME"):
        all_tags["dvc_exp"] = os.environ["DVC_EXP_NAME"]
    run_tags = resolve_tags({k: str(v) for k, v in all_tags.items()})  # plus MLflow's user and source tags
    run = StageRun(client, retrying(_create_run(client, experiment_id, stage, run_tags), "starting the stage's run"),
                   experiment_id, run_tags)
    try:
        run.log_params(params)
        yield run
    except BaseException:
        # Best effort and brief: if the store is what failed, the run stays RUNNING and the next run
        # of this stage on this host marks it KILLED.
        try:
            retrying(lambda: client.set_terminated(run.run_id, "FAILED"), "marking the run FAILED",
                     budget=min(5.0, retry_seconds()))
        except Exception:
            pass
        raise
    retrying(lambda: client.set_terminated(run.run_id, "FINISHED"), "marking the run FINISHED")
    # the parent run ends with its last stage, so its duration in `mlflow ui` spans the pipeline
    retrying(lambda: client.set_terminated(parent, "FINISHED"), "extending the pipeline's run")
