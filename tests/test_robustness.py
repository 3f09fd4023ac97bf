"""Interruptions and determinism, end to end with `dvc repro`, logging to a real MLflow tracking server.
(Every stage's run, metrics and artifacts on a tracking server: tests/test_team.py.)"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.pipeline_utils import env, make_repo, mlflow_http, run

pytestmark = pytest.mark.pipeline

STAGE = "train_baseline@digits-fc-amplitude-q3"
OUTPUTS = ["models/students/baseline/digits/fc-amplitude-q3/s0.pt",
           "metrics/students/baseline/digits/fc-amplitude-q3/s0.json"]
FOLDERS = ["models/students/baseline/digits/fc-amplitude-q3", "metrics/students/baseline/digits/fc-amplitude-q3",
           "metrics/curves/students/baseline/digits/fc-amplitude-q3"]
PARAMS = {
    "datasets": ["digits"], "teachers": ["lenet"], "students": ["fc-amplitude-q3"], "seeds": [0],
    "teacher": {"lenet": {"epochs": 1, "batch_size": 64}},
    "student": {"batch_size": 32, "eval_every": 5, "patience": 1000, "max_steps": 2400},  # 60 epochs, no early stop
    "distill": {"teachers": ["lenet"], "ensemble": ["lenet"]},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1, on a free port, for this module."""
    root = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_http(["server", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
                      "--artifacts-destination", str(root / "artifacts")]) as uri:
        yield uri


@pytest.fixture(scope="module")
def repo(tmp_path_factory, server):
    return make_repo(tmp_path_factory.mktemp("robust") / "repo", PARAMS)


def _repro_env(server):
    return {**env(None), "MLFLOW_TRACKING_URI": server}


def _retrain(repo: Path, server: str) -> None:
    """A forced `dvc repro` of the student, from no outputs: the stage keeps its finished trainings
    between runs (its folders persist), so forcing alone would train nothing."""
    for folder in FOLDERS:
        shutil.rmtree(repo / folder, ignore_errors=True)
    subprocess.run(["dvc", "repro", "-f", "-s", STAGE], cwd=repo, env=_repro_env(server), check=True,
                   capture_output=True)


def _kill_stage_once_checkpointed(repo: Path, server: str, how: str) -> None:
    """Start a forced `dvc repro` of the student from no outputs, interrupt it as soon as it has saved a
    checkpoint."""
    for folder in FOLDERS:
        shutil.rmtree(repo / folder, ignore_errors=True)
    checkpoint = repo / ".checkpoints" / f"{STAGE.replace('@', '-')}.pt"
    # As from a terminal: a test runner started in the background inherits SIGINT ignored, and so
    # would the stage, which then never sees the Ctrl-C this test sends.
    proc = subprocess.Popen(["dvc", "repro", "-f", STAGE], cwd=repo, env=_repro_env(server), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    try:
        while not checkpoint.exists():
            assert proc.poll() is None, f"dvc repro ended before the stage checkpointed:\n{proc.stdout.read()}"
            assert time.time() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        pid = _training_process(session=proc.pid)
        # SIGKILL: the stage dies at once, as on an out-of-memory kill; SIGINT: Ctrl-C reaching the stage.
        os.kill(pid, getattr(signal, how))
        out, _ = proc.communicate(timeout=120)
    finally:  # a failed assertion must not leave this dvc running (and holding the repo's lock) for later tests
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    if how == "SIGINT":
        assert "interrupted" in out and "Traceback" not in out, out


def _training_process(session: int) -> int:
    """The pid of the Python process training the student, in dvc's process session `session`.

    DVC runs the stage's cmd through $SHELL, or /bin/sh when SHELL is unset (as in CI). bash replaces
    itself with the command; dash stays as its parent, so the cmd line matches twice: take the leaf.
    """
    found = subprocess.run(["pgrep", "-s", str(session), "-f", "stages.train_student baseline digits"],
                           capture_output=True, text=True)  # only this dvc's stage, never another test's
    pids = [int(pid) for pid in found.stdout.split()]
    parents = {int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in pids}
    leaves = [pid for pid in pids if pid not in parents]
    assert len(leaves) == 1, found.stdout
    return leaves[0]


@pytest.mark.parametrize("how, final_status", [("SIGKILL", "KILLED"), ("SIGINT", "FAILED")])
def test_an_interrupted_stage_resumes_and_matches_an_uninterrupted_run(repo, server, how, final_status):
    started_ms = int(time.time() * 1000)
    _kill_stage_once_checkpointed(repo, server, how)
    # Nothing half-written is taken as finished: the stage is still due and its metrics are absent.
    assert not (repo / OUTPUTS[1]).exists()
    assert STAGE in run(["dvc", "status", STAGE], repo).stdout
    assert list((repo / ".checkpoints").glob("*.pt"))

    # -f -s: once an earlier test has finished this exact stage, plain `dvc repro` would check out
    # that result from the cache instead of running (and resuming) the stage.
    resume = subprocess.run(["dvc", "repro", "-f", "-s", STAGE], cwd=repo, env=_repro_env(server), check=True,
                            capture_output=True, text=True)
    assert "resuming at step" in resume.stdout, resume.stdout
    assert not list((repo / ".checkpoints").glob("*.pt"))  # resumed, finished, cleaned up
    resumed = {p: (repo / p).read_bytes() for p in OUTPUTS}
    # In `mlflow ui` the interrupted attempt is not left RUNNING: Ctrl-C ends it FAILED, and a run
    # whose process was killed outright is marked KILLED when the stage runs again.
    client = MlflowClient(tracking_uri=server)
    experiment = client.get_experiment_by_name("c2q-distillation").experiment_id
    # The stage ran in a child of the warm stage server (stages/warm.py), so its run's `pid` tag is that
    # child's, not the command's: find the attempt as this test's one run of the stage that did not finish.
    since = f"attributes.start_time >= {started_ms} and attributes.status != 'FINISHED'"
    attempt = client.search_runs([experiment], f"tags.dvc_stage = '{STAGE}' and {since}")
    assert [r.info.status for r in attempt] == [final_status]

    # Deterministic: an uninterrupted run of the same stage writes bit-identical files.
    _retrain(repo, server)
    assert {p: (repo / p).read_bytes() for p in OUTPUTS} == resumed
