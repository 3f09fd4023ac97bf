"""A lab's setup end to end, as docs/team.md describes it, every server real and on 127.0.0.1:
PostgreSQL, `mlflow server` on it with proxied artifacts, a bare git repository as the lab's git remote and
the repository's own DVC directory remote. Clones commit and pull results, two workers run queued
experiments at the same time, a third clone pulls them all; the tracking server is stopped mid-stage and
put under load."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from c2q.core.errors import TrackingStoreError
from c2q.tracking.runs import retrying
from c2q.tracking.server import (Postgres, ServerError, mlflow_server_command, postgres_bin, start_mlflow,
                                 stop_process)
from tests.conftest import REPO
from tests.pipeline_utils import commit_all, env, free_port, make_repo, set_params

pytestmark = pytest.mark.pipeline

STUDENT = "train_baseline@digits-fc-amplitude-q3"
DISTILLED = "train_distilled@digits-fc-amplitude-q3-lenet"
TINY = {
    "datasets": ["digits"], "teachers": ["lenet"], "students": ["fc-amplitude-q3"], "seeds": [0],
    "teacher": {"lenet": {"epochs": 1, "batch_size": 64}},
    "student": {"batch_size": 64, "eval_every": 5, "patience": 10, "max_steps": 15},
    "data": {"train_per_class": 30},
    "distill": {"teachers": ["lenet"], "ensemble": ["lenet"]},
    "evaluate": {"shots": 100, "noise": {"device": "fake_manila", "depolarising": {"strengths": [0, 1]}}},
    "mlflow": {"experiment": "team"},
}
PIPELINE = ["download@digits", "reduce@digits", "train_teacher@digits-lenet", "cache_logits@digits", STUDENT,
            DISTILLED, "evaluate@digits", "aggregate"]
IDENTITY = {"GIT_AUTHOR_NAME": "c2q tests", "GIT_AUTHOR_EMAIL": "tests@c2q.invalid",
            "GIT_COMMITTER_NAME": "c2q tests", "GIT_COMMITTER_EMAIL": "tests@c2q.invalid"}


class TrackingServer:
    """`mlflow server` on PostgreSQL on a fixed port, so that a test can kill it and start it again."""

    def __init__(self, root: Path, database: Postgres):
        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = mlflow_server_command(database.uri, root / "artifacts", "127.0.0.1", self.port, workers=4)
        self.proc = None

    def start(self) -> None:
        self.proc = start_mlflow(self.command, self.url, self.root / "mlflow-server.log")

    def kill(self) -> None:
        """As a crash or a machine going away: no goodbye to the clients."""
        stop_process(self.proc, signal.SIGKILL)


@pytest.fixture(scope="module")
def postgres_installed():
    """Skip where PostgreSQL's server is not installed, except in CI, whose .ci/run installs it."""
    try:
        postgres_bin("postgres")
    except ServerError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{e} (.ci/run installs it)")


@pytest.fixture(scope="module")
def server(postgres_installed):
    # Not under pytest's tmp_path: as root, PostgreSQL runs as `postgres`, which must reach its directory.
    root = Path(tempfile.mkdtemp(prefix="c2q-team-"))
    database = Postgres(root / "postgres", free_port())
    tracking = TrackingServer(root, database)
    try:
        database.start()
        tracking.start()
        yield tracking
    finally:
        stop_process(tracking.proc, signal.SIGTERM)
        database.stop()
        shutil.rmtree(root, ignore_errors=True)


def _env(server: TrackingServer, **more: str) -> dict[str, str]:
    return {**env(None), "MLFLOW_TRACKING_URI": server.url, **IDENTITY, **more}


def sh(cmd: list[str], cwd: Path, server: TrackingServer, check: bool = True, **more: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(server, **more), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} in {cwd.name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def _stage_runs(server, **tags) -> list:
    """The stage runs of experiment `team` whose tags are `tags`: not the pipeline's parent runs, nor the
    runs nested in a stage's (one per student of evaluate), which carry their stage's tags."""
    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name("team").experiment_id
    where = " and ".join([f"tags.{k} = '{v}'" for k, v in tags.items()] + ["tags.role != 'pipeline'"])
    return [r for r in client.search_runs([experiment], where, max_results=1000)
            if r.info.run_name == r.data.tags["dvc_stage"]]


def _training_runs(server, **tags) -> list:
    """The runs of single trainings in experiment `team` (nested in their stage's run) whose tags are `tags`."""
    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name("team").experiment_id
    where = " and ".join([f"tags.{k} = '{v}'" for k, v in tags.items()] + ["tags.seed != ''"])
    return [r for r in client.search_runs([experiment], where, max_results=1000)
            if r.data.tags["role"] in ("baseline", "distilled")]


def _outputs(repo: Path, under: str = "") -> dict[str, bytes]:
    """Every output file that the workspace's dvc.lock names (directories walked), by path: the bytes."""
    named = re.findall(r"^\s+- path: (\S+)\n\s+hash: md5", (repo / "dvc.lock").read_text(), re.M)
    files = {}
    for out in sorted(set(named)):
        path = repo / out
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if f.is_file() and str(f.relative_to(repo)).startswith(under):
                files[str(f.relative_to(repo))] = f.read_bytes()
    return files


@pytest.fixture(scope="module")
def lab(tmp_path_factory, server):
    """The lab's git remote (a bare repository) holding a commit whose results are in the DVC remote.

    Made as docs/team.md says: run, commit dvc.lock, `git push`, `dvc push`. Every clone
    sits beside the others, so the repository's default remote (../c2q-dvc-storage) is one folder for all.
    """
    root = tmp_path_factory.mktemp("lab")
    first = make_repo(root / "first", TINY)
    shutil.copy2(REPO / ".dvc/config", first / ".dvc/config")  # the repository's own DVC remote
    shutil.rmtree(first / "study")  # the regime-map study is not run here, so `dvc pull` could not find its outputs
    ran = re.findall(r"Running stage '([^']+)'", sh(["dvc", "repro"], first, server, C2Q_PIPELINE_RUN="first"))
    commit_all(first)
    sh(["git", "clone", "-q", "--bare", str(first), str(root / "origin.git")], root, server)
    sh(["git", "remote", "add", "origin", str(root / "origin.git")], first, server)
    sh(["dvc", "push"], first, server)
    return root, first, ran


def test_the_first_run_logs_each_stage_once_to_the_shared_server_and_pushes_everything(lab, server):
    root, first, ran = lab
    assert sorted(ran) == sorted(PIPELINE)
    runs = _stage_runs(server, pipeline_run="first")
    assert sorted(r.info.run_name for r in runs) == sorted(PIPELINE)
    assert {r.info.status for r in runs} == {"FINISHED"}
    by_name = {r.info.run_name: r for r in runs}
    trainings = {r.info.run_name: r for r in _training_runs(server, pipeline_run="first")}
    assert sorted(trainings) == [f"{STUDENT}/s0", f"{DISTILLED}/s0"]
    client = MlflowClient(server.url)

    def files(run, folder: str) -> set[str]:
        return {Path(a.path).name for a in client.list_artifacts(run.info.run_id, folder)}

    student, distilled = trainings[f"{STUDENT}/s0"], trainings[f"{DISTILLED}/s0"]
    assert 0 <= student.data.metrics["test_error"] <= 1 and 0 <= distilled.data.metrics["test_error"] <= 1
    assert student.data.tags["mlflow.parentRunId"] == by_name[STUDENT].info.run_id
    assert student.outputs.model_outputs and distilled.outputs.model_outputs  # each its student as an MLflow model
    assert "s0.json" in files(distilled, "metrics/curves/students/distilled/digits/fc-amplitude-q3-lenet")
    evaluations = {r.info.run_name: r for r in client.search_runs(
        [client.get_experiment_by_name("team").experiment_id], "tags.pipeline_run = 'first' and tags.role = 'evaluation'")}
    evaluated = evaluations["fc-amplitude-q3-lenet-s0"]
    assert evaluated.data.tags["mlflow.parentRunId"] == by_name["evaluate@digits"].info.run_id
    assert {"s0.json", "s0.png"} <= files(evaluated, "metrics/confusion/digits/distilled/fc-amplitude-q3-lenet")
    assert "s0.qasm" in files(evaluated, "models/circuits/digits/distilled/fc-amplitude-q3-lenet")
    assert 0 <= evaluated.data.metrics["test_error_shots"] <= 1
    assert "error_table.csv" in files(by_name["aggregate"], "metrics")
    assert "errors_by_method.png" in files(by_name["aggregate"], "metrics/plots")
    assert not (first / "mlflow.db").exists()  # nothing went to the local store
    assert "in sync" in sh(["dvc", "status", "--cloud"], first, server)
    assert (root / "c2q-dvc-storage/files/md5").is_dir()  # the default remote: a folder beside the clones


def test_the_server_registers_the_students_and_serves_them_by_alias(lab, server, monkeypatch):
    """The Model Registry on the PostgreSQL-backed server: the aggregate stage registered both students."""
    from c2q.core.io import load_json, load_tensors
    from c2q.serving import load_student

    _, first, _ = lab
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    split = load_tensors(first / "data/reduced/digits/split.pt")
    for name, metrics in (("c2q-digits-fc-amplitude-q3-baseline", "baseline/digits/fc-amplitude-q3"),
                          ("c2q-digits-fc-amplitude-q3-distilled-lenet", "distilled/digits/fc-amplitude-q3-lenet")):
        version = MlflowClient(server.url).get_model_version_by_alias(name, "champion")
        expected = load_json(first / f"metrics/students/{metrics}/s0.json")
        assert version.tags["seed"] == "0" and version.tags["c2q_key"] == expected["key"]
        student = load_student(f"models:/{name}@champion")
        wrong = int((student.predict(split["test_x"]) != split["test_y"]).sum())
        assert 1 - (len(split["test_y"]) - wrong) / len(split["test_y"]) == expected["test_error"]


def test_a_fresh_clone_pulls_the_committed_results_and_has_nothing_to_run(lab, server):
    root, first, _ = lab
    clone = root / "newcomer"
    sh(["git", "clone", "-q", str(root / "origin.git"), str(clone)], root, server)
    sh(["dvc", "pull"], clone, server)
    assert _outputs(clone) == _outputs(first)  # byte for byte: data, models and every metrics file
    repro = sh(["dvc", "repro"], clone, server)
    assert "Running stage" not in repro and "Data and pipelines are up to date" in repro, repro


def test_a_remote_missing_an_object_is_named_by_dvc_pull(lab, server):
    root, first, _ = lab
    broken = root / "broken-storage"
    shutil.copytree(root / "c2q-dvc-storage", broken)
    # a file in the DVC cache (metrics/ are kept in git): the LeNet teacher
    teacher = re.search(r"path: (models/teachers/digits/lenet\.pt)\n\s+hash: md5\n\s+md5: (\w+)",
                        (first / "dvc.lock").read_text())
    path, md5 = teacher.groups()
    (broken / "files/md5" / md5[:2] / md5[2:]).unlink()
    clone = root / "unlucky"
    sh(["git", "clone", "-q", str(root / "origin.git"), str(clone)], root, server)
    sh(["dvc", "remote", "modify", "--local", "storage", "url", str(broken)], clone, server)
    proc = subprocess.run(["dvc", "pull"], cwd=clone, env=_env(server), capture_output=True, text=True)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert path in out and md5 in out, out
    assert not (clone / path).exists()


def _worker(root: Path, name: str, seeds: list[int], server, failures: list) -> None:
    """One machine of the lab: clone, pull, queue an experiment per seed, run the queue, push the experiments."""
    try:
        clone = root / name
        sh(["git", "clone", "-q", str(root / "origin.git"), str(clone)], root, server)
        sh(["dvc", "pull"], clone, server)
        for seed in seeds:
            sh(["dvc", "exp", "run", "--queue", "-n", f"{name}-s{seed}", "-S", f"seeds=[{seed}]"], clone, server)
        sh(["dvc", "queue", "start", "-j", "1"], clone, server)
        deadline = time.time() + 900
        while any(s in (status := sh(["dvc", "queue", "status"], clone, server)) for s in ("Queued", "Running")):
            assert time.time() < deadline, status
            time.sleep(2)
        sh(["dvc", "queue", "stop"], clone, server, check=False)
        for seed in seeds:
            assert re.search(rf"{name}-s{seed}\s.*Success", status), status
        sh(["dvc", "exp", "push", "origin", *[f"{name}-s{seed}" for seed in seeds]], clone, server)
    except BaseException as e:  # noqa: BLE001 - reported by the test's thread
        failures.append(e)


def test_two_workers_share_experiments_through_git_one_dvc_remote_and_one_tracking_server(lab, server):
    root, _, _ = lab
    workers = {"alice": [1], "bob": [2]}
    failures: list = []
    threads = [threading.Thread(target=_worker, args=(root, name, seeds, server, failures))
               for name, seeds in workers.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[0]
    experiments = [f"{name}-s{seed}" for name, seeds in workers.items() for seed in seeds]

    # Every stage each experiment ran is one FINISHED run on the server, with its metrics and artifacts.
    client = MlflowClient(server.url)
    for name, seeds in workers.items():
        for seed in seeds:
            exp = f"{name}-s{seed}"
            ran = re.findall(r"Running stage '([^']+)'", sh(["dvc", "queue", "logs", exp], root / name, server))
            assert STUDENT in ran and "train_teacher@digits-lenet" not in ran
            runs = _stage_runs(server, dvc_exp=exp)
            assert Counter(r.info.run_name for r in runs) == Counter(ran), exp  # each exactly once
            assert {r.info.status for r in runs} == {"FINISHED"}
            trainings = _training_runs(server, dvc_exp=exp)
            assert sorted(r.info.run_name for r in trainings) == [f"{STUDENT}/s{seed}", f"{DISTILLED}/s{seed}"]
            for r in trainings:
                assert r.info.status == "FINISHED" and {"test_error", "best_step"} <= set(r.data.metrics)
                assert r.outputs.model_outputs  # its student as an MLflow model
    by_worker = {name: {r.info.start_time for e in experiments if e.startswith(name) for r in _stage_runs(server, dvc_exp=e)}
                 for name in workers}
    assert min(by_worker["alice"]) < max(by_worker["bob"]) and min(by_worker["bob"]) < max(by_worker["alice"])

    # A third machine pulls every experiment, results included: the same bytes, nothing to rerun.
    reader = root / "carol"
    sh(["git", "clone", "-q", str(root / "origin.git"), str(reader)], root, server)
    sh(["dvc", "exp", "pull", "origin", *experiments], reader, server)
    shown = sh(["dvc", "exp", "show", "--csv"], reader, server)
    assert all(e in shown for e in experiments), shown
    for name, seeds in workers.items():
        for seed in seeds:
            exp = f"{name}-s{seed}"
            for clone in (root / name, reader):   # each apply on a clean workspace: results kept in git
                sh(["git", "checkout", "-q", "-f", "HEAD"], clone, server)  # (cache: false) from the
                sh(["git", "clean", "-q", "-f", "-d", "metrics"], clone, server)  # last apply would stay
                sh(["dvc", "exp", "apply", exp], clone, server)
            sh(["dvc", "pull"], reader, server)
            theirs, mine = _outputs(root / name, "metrics/"), _outputs(reader, "metrics/")
            assert f"metrics/students/baseline/digits/fc-amplitude-q3/s{seed}.json" in mine
            assert mine == theirs  # byte for byte
            repro = sh(["dvc", "repro"], reader, server)
            assert "Running stage" not in repro, repro


def _training_started(clone: Path, server, stage: str, since_ms: int, proc: subprocess.Popen) -> str:
    """Wait until the stage of this test trains (its first checkpoint is saved); return its run's id."""
    checkpoint = clone / ".checkpoints" / f"{stage.replace('@', '-')}.pt"
    deadline = time.time() + 300
    while not checkpoint.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.time() < deadline
        time.sleep(0.02)
    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name("team").experiment_id
    [run] = client.search_runs([experiment], f"tags.dvc_stage = '{stage}' and attributes.start_time >= {since_ms}"
                                             " and tags.role = 'train_baseline'")
    return run.info.run_id


@pytest.fixture(scope="module")
def slow_student(lab, server):
    """A clone whose baseline student trains for long enough (several seconds, no early stop) to lose its
    tracking server mid-stage."""
    root, _, _ = lab
    clone = root / "restarts"
    sh(["git", "clone", "-q", str(root / "origin.git"), str(clone)], root, server)
    sh(["dvc", "pull"], clone, server)
    set_params(clone, {"student": {"batch_size": 32, "eval_every": 10, "patience": 1000, "max_steps": 600},
                       "data": {"train_per_class": 100}})
    return clone


def _repro_student(clone: Path, server, **more: str) -> subprocess.Popen:
    return subprocess.Popen(["dvc", "repro", "-s", STUDENT], cwd=clone, env=_env(server, **more),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _read_until(proc: subprocess.Popen, text: str) -> str:
    """The process's output up to the line holding `text` (or all of it, if it ends first)."""
    out = ""
    for line in proc.stdout:
        out += line
        if text in line:
            break
    return out


@contextmanager
def _student_losing_its_server(clone: Path, server, **more: str) -> Iterator[tuple[subprocess.Popen, str, int]]:
    """`dvc repro` the slow student and kill the tracking server while it trains; yields the repro, the
    stage's run id and when it started (ms). Afterwards the repro has ended and the server is up."""
    since = int(time.time() * 1000)
    proc = _repro_student(clone, server, **more)
    try:
        run_id = _training_started(clone, server, STUDENT, since, proc)
        server.kill()
        yield proc, run_id, since
    finally:
        if proc.poll() is None:
            proc.kill()
        if server.proc.poll() is not None:
            server.start()


def test_a_tracking_server_restarted_mid_stage_loses_nothing(slow_student, server):
    with _student_losing_its_server(slow_student, server) as (proc, run_id, _):
        waited = _read_until(proc, "did not answer while logging")  # trained; now waiting for the server
        assert proc.poll() is None, waited
        server.start()
        out = waited + proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out
    assert f"the MLflow tracking store {server.url} did not answer while logging {STUDENT}/s0" in out, out
    run = MlflowClient(server.url).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["trained"] == 1
    [training] = [r for r in _training_runs(server) if r.data.tags["mlflow.parentRunId"] == run_id]
    assert training.info.status == "FINISHED" and "test_error" in training.data.metrics
    curve = json.loads((slow_student / "metrics/curves/students/baseline/digits/fc-amplitude-q3/s0.json").read_text())
    assert _curve(server, training.info.run_id) == [row["step"] for row in curve]  # every point once
    assert len(training.outputs.model_outputs) == 1  # its student, as an MLflow model, logged once


def _curve(server, run_id: str) -> list[int]:
    return sorted(m.step for m in MlflowClient(server.url).get_metric_history(run_id, "train_loss"))


def test_a_tracking_server_that_stays_away_fails_the_stage_and_nothing_is_trained_twice(slow_student, server):
    # A training that has not run before, so neither dvc.lock nor DVC's run cache holds a result for it.
    set_params(slow_student, {"student": {"lr": 0.011}})
    metrics = slow_student / "metrics/students/baseline/digits/fc-amplitude-q3/s0.json"
    with _student_losing_its_server(slow_student, server, C2Q_TRACKING_RETRY_S="4") as (proc, run_id, since):
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert re.search(rf"the MLflow tracking store {server.url} did not answer while logging {STUDENT}/s0; "
                     r"retried for 4 s \(C2Q_TRACKING_RETRY_S sets how long\)", out), out
    assert "is not marked FINISHED" in out and "Traceback" not in out, out
    assert not metrics.exists()  # nothing DVC, the aggregate or the next run could take for a result
    assert STUDENT in sh(["dvc", "status", STUDENT], slow_student, server)
    assert MlflowClient(server.url).get_run(run_id).info.status == "RUNNING"
    assert list((slow_student / ".checkpoints").glob("*.pt"))  # kept: the record is not complete

    # Once the server is back, the next run records the finished training without training it again,
    # and closes the lost run.
    again = sh(["dvc", "repro", "-s", STUDENT], slow_student, server)
    assert "already trained, results from" in again and "resuming" not in again, again
    assert MlflowClient(server.url).get_run(run_id).info.status == "KILLED"
    finished = [r for r in _stage_runs(server, dvc_stage=STUDENT) if r.info.start_time > since and r.info.run_id != run_id]
    assert [r.info.status for r in finished] == ["FINISHED"]
    assert [r.info.status for r in _training_runs(server) if r.data.tags["mlflow.parentRunId"] == finished[0].info.run_id] \
        == ["FINISHED"]
    assert metrics.exists() and not list((slow_student / ".checkpoints").glob("*.pt"))


def test_four_processes_logging_200_runs_at_once_lose_and_duplicate_nothing(server, tmp_path, capsys):
    workers, each = 4, 50
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "tests.team_load", str(w), str(each), "team-load"], cwd=tmp_path,
                              env={**_env(server), "PYTHONPATH": str(REPO), "C2Q_PIPELINE_RUN": f"load-{w}"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for w in range(workers)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    seconds = time.perf_counter() - started
    assert [p.returncode for p in procs] == [0] * workers, outs
    client = MlflowClient(server.url)
    experiment = client.get_experiment_by_name("team-load").experiment_id
    runs = client.search_runs([experiment], "tags.role = 'load'", max_results=1000)
    assert Counter((r.data.tags["worker"], r.data.tags["index"]) for r in runs) == \
        Counter((str(w), str(i)) for w in range(workers) for i in range(each))  # none lost, none twice

    def check(r) -> None:
        assert r.info.status == "FINISHED" and r.data.params["index"] == r.data.tags["index"]
        assert r.data.metrics["test_error"] == int(r.data.tags["index"]) / each
        assert sorted(m.step for m in client.get_metric_history(r.info.run_id, "train_loss")) == \
            [100 * epoch for epoch in range(1, 11)]
        assert [a.path for a in client.list_artifacts(r.info.run_id, "load")] == \
            [f"load/{r.data.tags['worker']}-{r.data.tags['index']}.json"]

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(check, runs))
    with capsys.disabled():
        print(f"\n{workers} processes logged {workers * each} stage-like runs to MLflow on PostgreSQL in {seconds:.1f} s")


def test_only_failures_that_a_restart_cures_are_retried(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # as a stage sets it: c2q's retries only
    client = MlflowClient(server.url)
    run_id = client.create_run(client.create_experiment("team-retry")).info.run_id
    client.log_param(run_id, "lr", "0.01")
    started = time.monotonic()
    with pytest.raises(MlflowException, match="Changing param values is not allowed"):  # a real error: at once
        retrying(lambda: client.log_param(run_id, "lr", "0.02"), "logging params", budget=30)
    assert time.monotonic() - started < 10
    nobody = MlflowClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TrackingStoreError, match=r"did not answer while listing; retried for 1 s"):
        retrying(lambda: nobody.search_experiments(), "listing", budget=1)


def test_make_tracking_server_starts_both_servers_keeps_runs_and_stops_on_ctrl_c(postgres_installed):
    root = Path(tempfile.mkdtemp(prefix="c2q-cli-"))
    root.chmod(0o755)  # as root, PostgreSQL runs as `postgres`, which must enter it
    port, db_port = free_port(), free_port()
    command = [sys.executable, "-m", "c2q.tracking.server", "--dir", str(root / "tracking"), "--port", str(port),
               "--db-port", str(db_port), "--workers", "1"]

    def up() -> subprocess.Popen:
        proc = subprocess.Popen(command, env={**env(None), "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        line = proc.stdout.readline()
        assert f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{port}" in line + proc.stdout.readline(), line
        return proc

    def ctrl_c(proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0

    proc = None
    try:
        proc = up()
        client = MlflowClient(f"http://127.0.0.1:{port}")
        run_id = client.create_run(client.create_experiment("kept")).info.run_id
        # A second server on the same ports stops at once, naming the port, instead of shadowing the first.
        second = subprocess.run(command, env={**env(None), "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
        assert second.returncode == 1 and f"port {db_port} for PostgreSQL (--db-port) is in use" in second.stderr
        ctrl_c(proc)
        for p in (port, db_port):  # both servers are gone
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", p)) != 0
        proc = up()
        assert client.get_run(run_id).info.experiment_id == client.get_experiment_by_name("kept").experiment_id
        ctrl_c(proc)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
