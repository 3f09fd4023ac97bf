"""The aggregate stage on hand-made metrics files: every file and plot, one row per configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

STUDENTS = ["fc-amplitude-q4", "pca-angle-q3"]
TEACHERS = ["lenet", "ensemble"]
SEEDS = [0, 1, 2]


def _error(dataset, student, seed, teacher=None):
    """A distinct, known error for every student."""
    base = 0.30 if dataset == "mnist" else 0.40
    base += 0.05 * STUDENTS.index(student) + 0.01 * seed
    return round(base - (0.02 * (TEACHERS.index(teacher) + 1) if teacher else 0), 6)


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory):
    root = tmp_path_factory.mktemp("aggregate")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(datasets=["mnist", "digits"], students=STUDENTS, seeds=SEEDS)
    params["distill"]["teachers"] = TEACHERS
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for dataset in ("mnist", "digits"):
        _write(root / f"metrics/logits/{dataset}.json", {
            "lenet": {"parameters": 61706, "test_error": 0.015, "val_error": 0.016},
            "ensemble": {"parameters": 99999, "test_error": 0.012, "val_error": 0.013, "members": ["lenet"]},
        })
        for student in STUDENTS:
            for seed in SEEDS:
                common = {"quantum_parameters": 24, "classical_parameters": 12610, "near_chance": False}
                near_chance = dataset == "digits" and student == "pca-angle-q3" and seed == 1
                _write(root / f"metrics/students/baseline/{dataset}/{student}-s{seed}.json",
                       {"test_error": _error(dataset, student, seed), **common, "near_chance": near_chance})
                for t in TEACHERS:
                    _write(root / f"metrics/students/distilled/{dataset}/{student}-{t}-s{seed}.json",
                           {"test_error": _error(dataset, student, seed, t), **common})
    # A stale file from a configuration no longer in params must not reach the table.
    _write(root / "metrics/students/baseline/mnist/fc-amplitude-q8-s0.json", {"test_error": 0.9})
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, "-m", "stages.aggregate"], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return root


def test_writes_every_file_and_plot(aggregated):
    for name in ["error_table.csv", "error_table.md", "gains.csv", "summary.json",
                 "plots/errors_by_method.png", "plots/gains.png"]:
        path = aggregated / "metrics" / name
        assert path.is_file() and path.stat().st_size > 100, name
    for png in (aggregated / "metrics/plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_row_per_configuration_with_the_right_numbers(aggregated):
    table = pd.read_csv(aggregated / "metrics/error_table.csv")
    assert sorted(zip(table["dataset"], table["student"])) == sorted(
        (d, s) for d in ("mnist", "digits") for s in STUDENTS)
    row = table[(table["dataset"] == "mnist") & (table["student"] == "fc-amplitude-q4")].iloc[0]
    assert row["baseline_error"] == pytest.approx(31.0)  # mean of 30, 31, 32 %
    assert row["baseline_error_std"] == pytest.approx(1.0)
    assert row["lenet.distilled_error"] == pytest.approx(29.0)
    assert row["ensemble.gain"] == pytest.approx(4.0) and row["ensemble.wins"] == 3
    assert row["paper_error"] == pytest.approx(22.0)  # Fig. 12, MNIST fc + amplitude, 4 qubits
    assert row["lenet.teacher_error"] == pytest.approx(1.5)
    assert pd.isna(table[table["dataset"] == "digits"]["paper_error"]).all()
    gains = pd.read_csv(aggregated / "metrics/gains.csv")
    assert len(gains) == 2 * 2 * 2


def test_summary_holds_the_headline_numbers(aggregated):
    summary = json.loads((aggregated / "metrics/summary.json").read_text())
    head = summary["mnist"]["fc-amplitude-q4"]
    assert head == {"baseline_error": pytest.approx(31.0), "best_distilled_error": pytest.approx(27.0),
                    "gain": pytest.approx(4.0)}


def test_markdown_shows_both_tables(aggregated):
    md = (aggregated / "metrics/error_table.md").read_text()
    assert "| mnist | fc-amplitude-q4 | all | 24 / 12610 | 31.00 ± 1.00 | 29.00 ± 1.00 | 27.00 ± 1.00 | 22.0 |" in md
    assert "| mnist | fc-amplitude-q4 | ensemble | 1.20 | 99,999 |" in md


def test_students_near_chance_are_marked_in_the_table(aggregated):
    table = pd.read_csv(aggregated / "metrics/error_table.csv")
    flagged = table[table["near_chance_students"] > 0]
    assert list(zip(flagged["dataset"], flagged["student"], flagged["students"])) == [("digits", "pca-angle-q3", 9)]
    md = (aggregated / "metrics/error_table.md").read_text()
    assert "| digits | pca-angle-q3 ⚠ |" in md and "| mnist | pca-angle-q3 |" in md
    assert "warned that they ended near chance on validation: digits pca-angle-q3 (1 of 9)." in md


def test_a_missing_metrics_file_is_named_as_a_missing_input_not_a_params_problem(aggregated, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(aggregated, root, ignore=shutil.ignore_patterns("mlflow.db*", "mlartifacts"))
    (root / "metrics/students/distilled/digits/pca-angle-q3-lenet-s2.json").unlink()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, "-m", "stages.aggregate"], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "metrics/students/distilled/digits/pca-angle-q3-lenet-s2.json" in proc.stderr
    assert "missing" in proc.stderr and "dvc repro" in proc.stderr and "params.yaml has" not in proc.stderr
