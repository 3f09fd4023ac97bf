"""The warm stage server (stages/warm.py): a stage run through it is the same stage, only started faster."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from c2q.core import paths
from stages import warm
from tests.pipeline_utils import env, make_repo, set_params

pytestmark = pytest.mark.server

STUDENT = ["train_student", "baseline", "digits", "fc-angle-q3"]
PARAMS = {"datasets": ["digits"], "students": ["fc-angle-q3"], "seeds": [0, 1],
          "student": {"batch_size": 64, "eval_every": 5, "patience": 10, "max_steps": 20}}


def _stage(repo: Path, args: list[str], warm_on: bool, **extra: str) -> subprocess.CompletedProcess:
    environment = {**env(None), "C2Q_WARM": "1" if warm_on else "0", "C2Q_WARM_IDLE": "20", **extra}
    return subprocess.run([sys.executable, "-m", "stages", *args], cwd=repo, env=environment,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("warm") / "repo", PARAMS)
    for args in (["download", "digits"], ["reduce", "digits"]):
        assert _stage(repo, args, warm_on=False).returncode == 0
    return repo


def _outputs(repo: Path, remove: bool = False) -> dict[str, bytes]:
    """The student stage's files (with `remove`, deleted afterwards, so the next run trains again)."""
    folders = paths.student_folders("baseline", "digits", "fc-angle-q3")
    files = {str(f): f.read_bytes() for folder in folders for f in sorted((repo / folder).iterdir())}
    if remove:
        for folder in folders:
            shutil.rmtree(repo / folder)
    return files


def test_a_stage_writes_the_same_bytes_warm_as_in_a_process_of_its_own(repo):
    cold = _stage(repo, STUDENT, warm_on=False)
    assert cold.returncode == 0, cold.stderr
    cold_files = _outputs(repo, remove=True)
    assert len(cold_files) == 2 * 3  # two seeds: weights, metrics, curve
    hot = _stage(repo, STUDENT, warm_on=True)  # starts the server, then runs in a forked child
    assert hot.returncode == 0, hot.stderr
    assert "test acc" in hot.stdout  # the stage's own output reaches the caller
    assert _outputs(repo, remove=True) == cold_files
    again = _stage(repo, STUDENT, warm_on=True)  # the server is warm now
    assert again.returncode == 0 and _outputs(repo) == cold_files


def test_errors_and_exit_codes_come_back_as_from_the_stage_itself(repo):
    set_params(repo, {"student": {"lr": -1}})
    try:
        for warm_on in (False, True):
            proc = _stage(repo, STUDENT, warm_on=warm_on)
            assert proc.returncode == 2 and "student.lr" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        set_params(repo, {"student": {"lr": 0.01}})
    unknown = _stage(repo, ["train_everything"], warm_on=True)
    assert unknown.returncode == 2 and "usage: python -m stages <stage>" in unknown.stderr


def test_the_server_is_one_per_code_version_and_environment(repo):
    environment = {"PATH": "/bin", "HOME": "/home/x"}
    address = warm.server_address(repo, environment)
    # Variables DVC or the launcher set per invocation do not matter: the child receives them anyway.
    assert warm.server_address(repo, {**environment, "DVC_ROOT": str(repo), "C2Q_PIPELINE_RUN": "x"}) == address
    assert warm.server_address(repo, {**environment, "OMP_NUM_THREADS": "1"}) != address
    module = repo / "c2q/models/student.py"
    source = module.read_text()
    module.write_text(source + "\n# edited\n")
    try:
        assert warm.server_address(repo, environment) != address  # edited code is never served stale
    finally:
        module.write_text(source)
    assert warm.server_address(repo, environment) == address


def test_an_idle_server_exits_and_removes_its_socket(repo):
    proc = _stage(repo, ["download", "digits"], warm_on=True, C2Q_WARM_IDLE="1")
    assert proc.returncode == 0, proc.stderr
    environment = {**env(None), "C2Q_WARM": "1", "C2Q_WARM_IDLE": "1"}
    address = warm.server_address(repo, environment)  # the one the client used
    deadline = time.monotonic() + 30
    while address.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not address.exists()


def test_the_stage_runs_in_the_callers_directory_with_its_environment(repo):
    """MLflow receives the run under the caller's tracking URI (the child takes the caller's environment)."""
    uri = f"sqlite:///{repo / 'elsewhere.db'}"
    proc = _stage(repo, ["download", "digits"], warm_on=True, MLFLOW_TRACKING_URI=uri)
    assert proc.returncode == 0, proc.stderr
    import mlflow

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["c2q-distillation"], filter_string="tags.role = 'data'")
    assert list(runs["tags.dvc_stage"]) == ["download@digits"]
    assert json.loads((repo / "data/raw/digits/manifest.json").read_text())
