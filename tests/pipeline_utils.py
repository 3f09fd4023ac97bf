"""Helpers for end-to-end tests: a temporary copy of the repository and real `dvc repro` runs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tests.conftest import REPO

PROJECT_FILES = ["c2q", "stages", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", "study/dvc.yaml",
                 "study/params.yaml", "study/noise/README.md"]


# A study (study/params.yaml) small enough for tests, on MNIST capped at MNIST_CAP images per split:
# 2 map sizes x 2 seeds crossed with 2 teacher seeds, every family with 2 settings, a classical control, a
# whole-validation group, the notebooks' regime with their student on 3 classes, batched and as run, and the
# noise question with a 2-qubit noise-aware student.
MNIST_CAP = {"data": {"max_samples": 300}}
SMALL_STUDY = {
    "datasets": ["mnist"], "students": ["fc-amplitude-q3", "fc-amplitude-q3-classical"], "sizes": [5, "all"],
    "seeds": [0, 1], "teacher_seeds": [0, 1],
    "validation": {"fraction": 0.2, "min_per_class": 2, "whole_split_sizes": [5]},
    "baseline": {"lr_scales": [1, 2], "label_smoothing": [0]},
    "distill": {"methods": ["standardised"], "temperatures": [2], "alphas": [0.5, 0.9]},
    "controls": {"students": ["fc-amplitude-q3"], "label_smoothing": [0.3, 0.6]},
    "notebooks": {"datasets": ["mnist"], "configurations": [{"classes": [0, 1, 2], "student": "cnn-hadamard-q2",
                                                             "shots": 500}],
                  "size": 5, "teachers": ["ensemble"],
                  "regimes": {"batched": {"batch_size": 16, "shots": False, "seeds": [0, 1, 2]},
                              "as_run": {"batch_size": 1, "shots": True, "seeds": [0, 1]}}},
    "noise": {"datasets": ["mnist"], "students": ["fc-angle-q2-chain-nat"], "size": 5, "test_per_class": 5},
}
# The same on scikit-learn's digits, whose 8x8 images the notebooks' CNN cannot take: no notebooks' regime.
DIGITS_STUDY = {**SMALL_STUDY, "datasets": ["digits"], "notebooks": {**SMALL_STUDY["notebooks"], "datasets": []},
                "noise": {**SMALL_STUDY["noise"], "datasets": []}}
# trainings per cell: controlled student 2 baseline + 2 x 2 distill + 2 ls + 4 controls x 2; classical 2 + 4
MAP_ARMS, WHOLE_VAL_ARMS, NOTEBOOK_ARMS = 2 + 4 + 2 + 8 + 2 + 4, 2 + 4, 2
NOISE_ARMS = 2 + 4  # per noise cell: its one student's 2 baselines and 2 distillation settings x 2 teacher seeds


# A student recipe that trains a digits student in seconds: at most 30 steps of 16, validated every 5.
QUICK_STUDENT = {"batch_size": 16, "eval_every": 5, "patience": 15, "max_steps": 30}
QUICK_HYBRID = {"batch_size": 16, "epochs": 2}


def make_repo(dest: Path, params_update: dict) -> Path:
    """Copy the project into `dest`, apply `params_update` (nested), `git init` and `dvc init`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    set_params(dest, params_update)
    run(["git", "init", "-q"], dest)
    run(["dvc", "init", "-q"], dest)
    return dest


def set_params(repo: Path, update: dict, file: str = "params.yaml") -> None:
    params = yaml.safe_load((repo / file).read_text())
    _merge(params, update)
    (repo / file).write_text(yaml.safe_dump(params, sort_keys=False))


def _merge(base: dict, update: dict) -> None:
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def env(mirror: Path | None, trace: Path | None = None) -> dict[str, str]:
    """The environment of a test's `dvc` or stage; with `trace`, every stage process records the
    files it opens into that folder (see tests/io_trace/sitecustomize.py)."""
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e['PATH']}"
    e.pop("MLFLOW_TRACKING_URI", None)
    e.pop("DVC_ROOT", None)
    if mirror is not None:
        e["C2Q_DATA_MIRROR"] = str(mirror)
    if trace is not None:
        e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "tests/io_trace"), e.get("PYTHONPATH")]))
        e["C2Q_IO_TRACE"] = str(trace)
    return e


def run(cmd: list[str], cwd: Path, mirror: Path | None = None, check: bool = True,
        trace: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env(mirror, trace), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def repro(repo: Path, mirror: Path, trace: Path | None = None) -> list[str]:
    """Run `dvc repro`; return the names of the stages that actually ran."""
    proc = run(["dvc", "repro"], repo, mirror, trace=trace)
    return re.findall(r"Running stage '([^']+)'", proc.stdout)


def commit_all(repo: Path) -> None:
    """Commit the repository (dvc exp run needs a commit to start from)."""
    identity = {"GIT_AUTHOR_NAME": "c2q tests", "GIT_AUTHOR_EMAIL": "tests@c2q.invalid",
                "GIT_COMMITTER_NAME": "c2q tests", "GIT_COMMITTER_EMAIL": "tests@c2q.invalid"}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "commit", "-qm", "test"], cwd=repo, check=True, capture_output=True, env={**os.environ, **identity})


@contextmanager
def mlflow_http(args: list[str], cwd: Path | None = None, environment: dict[str, str] | None = None) -> Iterator[str]:
    """Run `mlflow <args>` (`server` or `ui` and their options) on a free port of 127.0.0.1; yield its
    URL once it answers /health, and stop it afterwards."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), *args, "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1"], cwd=cwd, env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail(f"mlflow {args[0]} did not start")
                time.sleep(0.5)
        yield uri
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pyfunc_matches_the_pipeline(repo: Path, dataset: str, student: str, role: str = "baseline", seed: int = 0,
                                teacher: str | None = None) -> None:
    """The MLflow model that one training's run logged, loaded through mlflow.pyfunc, gives on the raw test
    images exactly the metrics file's test error and the student's logits (its weights on the features
    stage reduce wrote) to 1e-6."""
    import mlflow
    import numpy as np
    import torch

    from c2q.core.io import load_json, load_tensors
    from c2q.data.splits import load_splits
    from c2q.serving import load_student
    from c2q.training.scoring import predict

    group = f"{student}-{teacher}" if teacher else student
    metrics = load_json(repo / f"metrics/students/{role}/{dataset}/{group}/s{seed}.json")
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    [run] = mlflow.search_runs(experiment_names=["c2q-distillation"], output_format="list",
                               filter_string=f"tags.c2q_key = '{metrics['key']}'")
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    split = load_tensors(repo / f"data/reduced/{dataset}/split.pt")
    out = model.predict(split["test_x"].numpy())
    logits = out[[c for c in out.columns if c.startswith("logit_")]].to_numpy()
    weights = load_student(repo / f"models/students/{role}/{dataset}/{group}/s{seed}.pt").student
    with torch.inference_mode():
        expected = predict(weights, load_splits(repo / f"data/reduced/{dataset}/{student}.pt")["test"].x).numpy()
    assert np.abs(logits - expected).max() <= 1e-6
    wrong = int((out["label"].to_numpy() != split["test_y"].numpy()).sum())
    assert wrong == round(metrics["test_error"] * len(out)), (wrong, metrics["test_error"])
    assert 1 - (len(out) - wrong) / len(out) == metrics["test_error"]  # the stage's own arithmetic, exactly
