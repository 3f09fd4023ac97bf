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

STUDENTS = ["fc-amplitude-q4", "pca-angle-q3-chain"]
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


def _noisy(exact: float, degradation: float) -> dict:
    """A noisy evaluation whose device and depolarising (x1) errors are `degradation` above the exact error,
    half that once readout is mitigated; x4 twice that."""
    return {"shots": 2000, "images": 20, "noise": "fake_guadalupe", "device": "fake_guadalupe",
            "test_error_exact": exact, "test_error_shots": exact, "test_error_device": exact + degradation,
            "test_error_noisy": exact + degradation, "test_error_device_mitigated": exact + degradation / 2,
            "test_error_noisy_mitigated": exact + degradation / 2, "device_circuit": {"depth": 90, "two_qubit_gates": 40},
            "depolarising": {"strengths": [0.0, 1.0, 4.0],
                             "test_error": [exact, exact + degradation, exact + 2 * degradation]}}


def _many(dataset: str, student: str) -> str | None:
    """Which many-image evaluation a student gets: a -chain one the calibrated channels' (its evaluation file
    written before `model` was recorded), fc-amplitude-q4 the device model's on MNIST only."""
    return "calibrated" if "chain" in student else ("device" if dataset == "mnist" else None)


def _evaluation(exact: float, degradation: float, many: str | None = None) -> dict:
    """Stage evaluate's file: the shot error on the whole test set, the noisy evaluation of the subset and
    (`many`) a density matrix's on 1,000 images (a third of the subset's degradation)."""
    out = {"test_error_shots": exact + 0.01, "test_error_by_shots": {"2000": exact + 0.01},
           "noisy_subset": _noisy(exact, degradation)}
    if many == "calibrated":
        out["noisy_model"] = {"images": 1000, "shots": 2000, "device": "fake_guadalupe", "line": [0, 1, 4]}
    elif many == "device":
        out["noisy_model"] = {"images": 1000, "shots": 2000, "device": "fake_guadalupe", "model": "device"}
    if many:
        out["noisy_model"].update({"test_error_exact": exact, "test_error_noisy_infinite_shots": exact + degradation / 3,
                                   "test_error_noisy": exact + degradation / 3, "test_error_noisy_mitigated": exact})
    return out


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
                common = {"quantum_parameters": 24, "classical_parameters": 12610, "near_chance": False,
                          "hit_cap": False, "best_val_accuracy": 0.5 + 0.01 * seed}
                near_chance = dataset == "digits" and student == "pca-angle-q3-chain" and seed == 1
                hit_cap = dataset == "mnist" and student == "fc-amplitude-q4" and seed == 2
                _write(root / f"metrics/students/baseline/{dataset}/{student}/s{seed}.json",
                       {"test_error": _error(dataset, student, seed), **common, "near_chance": near_chance,
                        "hit_cap": hit_cap, "key": f"{dataset}-{student}-{seed}"})
                _write(root / f"metrics/evaluation/{dataset}/baseline/{student}/s{seed}.json",
                       _evaluation(_error(dataset, student, seed), 0.20 + 0.01 * seed, _many(dataset, student)))
                for t in TEACHERS:
                    _write(root / f"metrics/students/distilled/{dataset}/{student}-{t}/s{seed}.json",
                           {"test_error": _error(dataset, student, seed, t), **common,
                            "key": f"{dataset}-{student}-{t}-{seed}"})
                    _write(root / f"metrics/evaluation/{dataset}/distilled/{student}-{t}/s{seed}.json",
                           _evaluation(_error(dataset, student, seed, t), 0.10 + 0.02 * seed,
                                       _many(dataset, student)))
    # A stale file from a configuration no longer in params must not reach the table.
    _write(root / "metrics/students/baseline/mnist/fc-amplitude-q8/s0.json", {"test_error": 0.9})
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, "-m", "stages.aggregate"], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (root / "aggregate.log").write_text(proc.stdout)
    return root


def test_a_store_that_never_saw_the_trainings_registers_nothing_and_says_so(aggregated):
    """Here no training ran, so no MLflow run holds a model: each of the 2 x 2 x 3 groups gets a line."""
    lines = [l for l in (aggregated / "aggregate.log").read_text().splitlines() if "not registered" in l]
    assert len(lines) == 12
    assert "c2q-mnist-fc-amplitude-q4-distilled-ensemble: not registered: no MLflow run in this store logged " \
           "seed 2's model" in "\n".join(lines)  # the best validation accuracy is seed 2's


def test_writes_every_file_and_plot(aggregated):
    for name in ["error_table.csv", "error_table.md", "gains.csv", "hardware_table.csv", "noise_gains.csv",
                 "summary.json", "plots/errors_by_method.png", "plots/gains.png", "plots/error_vs_noise.png",
                 "plots/error_on_device.png"]:
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
    assert list(zip(flagged["dataset"], flagged["student"], flagged["students"])) == [("digits", "pca-angle-q3-chain", 9)]
    md = (aggregated / "metrics/error_table.md").read_text()
    assert "| digits | pca-angle-q3-chain ⚠ |" in md and "| mnist | pca-angle-q3-chain |" in md
    assert "warned that they ended near chance on validation: digits pca-angle-q3-chain (1 of 9)." in md


def test_trainings_that_reached_the_step_cap_are_counted(aggregated):
    table = pd.read_csv(aggregated / "metrics/error_table.csv")
    assert table.set_index(["dataset", "student"])["hit_cap_students"].to_dict() == {
        (d, s): int(d == "mnist" and s == "fc-amplitude-q4") for d in ("mnist", "digits") for s in STUDENTS}
    md = (aggregated / "metrics/error_table.md").read_text()
    total = 2 * len(STUDENTS) * len(SEEDS) * (1 + len(TEACHERS))
    assert f"before early stopping: 1 of {total}: mnist fc-amplitude-q4 (1 of 9)." in md
    summary = json.loads((aggregated / "metrics/summary.json").read_text())
    assert summary["trainings"] == {"students": total, "hit_cap": 1}


def test_a_missing_metrics_file_is_named_as_a_missing_input_not_a_params_problem(aggregated, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(aggregated, root, ignore=shutil.ignore_patterns("mlflow.db*", "mlartifacts"))
    (root / "metrics/students/distilled/digits/pca-angle-q3-chain-lenet/s2.json").unlink()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, "-m", "stages.aggregate"], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "metrics/students/distilled/digits/pca-angle-q3-chain-lenet/s2.json" in proc.stderr
    assert "missing" in proc.stderr and "dvc repro" in proc.stderr and "params.yaml has" not in proc.stderr


def test_off_simulator_table_puts_exact_shot_and_noisy_errors_side_by_side(aggregated):
    table = pd.read_csv(aggregated / "metrics/hardware_table.csv")
    assert len(table) == 2 * len(STUDENTS) * (1 + len(TEACHERS))  # every student row, baseline and distilled
    row = table[(table["dataset"] == "mnist") & (table["student"] == "fc-amplitude-q4")
                & (table["role"] == "baseline")].iloc[0]
    assert row["exact_error"] == pytest.approx(31.0) and row["shots_error"] == pytest.approx(32.0)
    assert row["noisy_error"] == pytest.approx(31.0 + 21.0) and row["noisy_error_std"] == pytest.approx(2.0)
    assert row["noisy_subset_half_width"] == pytest.approx(100 * 1.96 * (0.52 * 0.48 / 20) ** 0.5, abs=1e-3)
    assert row["mitigated_error"] == pytest.approx(31.0 + 10.5) and row["mitigated_error_std"] == pytest.approx(1.5)
    assert row["two_qubit_gates"] == 40
    markdown = (aggregated / "metrics/error_table.md").read_text()
    assert "Off the simulator" in markdown and "| mnist | fc-amplitude-q4 | distilled (lenet) | 29.00 ± 1.00 |" in markdown


def test_distilled_students_that_lose_less_to_noise_show_a_positive_difference(aggregated):
    gains = pd.read_csv(aggregated / "metrics/noise_gains.csv")
    device = gains[(gains["dataset"] == "mnist") & (gains["student"] == "fc-amplitude-q4")
                   & (gains["teacher"] == "lenet") & (gains["model"] == "device")].iloc[0]
    # baseline loses 20, 21, 22 points, distilled 10, 12, 14: differences 10, 9, 8
    assert device["baseline_degradation"] == pytest.approx(21.0) and device["distilled_degradation"] == pytest.approx(12.0)
    assert device["difference"] == pytest.approx(9.0) and device["ci_low"] < 9 < device["ci_high"]
    x4 = gains[(gains["dataset"] == "mnist") & (gains["student"] == "fc-amplitude-q4")
               & (gains["teacher"] == "lenet") & (gains["level"] == "x4")].iloc[0]
    assert x4["difference"] == pytest.approx(18.0)
    # the gain under noise: baseline noisy (exact + 20, 21, 22) - distilled noisy (exact - 2 + 10, 12, 14)
    assert device["gain"] == pytest.approx(2.0 + 9.0) and device["gain_ci_low"] < 11 < device["gain_ci_high"]


def test_many_image_evaluations_get_their_block_and_a_gain_under_their_noise_model(aggregated):
    table = pd.read_csv(aggregated / "metrics/hardware_table.csv")
    chain = table[(table["dataset"] == "mnist") & (table["student"] == "pca-angle-q3-chain")
                  & (table["role"] == "baseline")].iloc[0]
    assert chain["model_images"] == 1000 and chain["model_noisy_error"] == pytest.approx(36.0 + 7.0)
    assert chain["model_half_width"] == pytest.approx(100 * 1.96 * (0.43 * 0.57 / 1000) ** 0.5, abs=1e-3)
    assert chain["model_kind"] == "calibrated"
    amplitude = table[table["student"] == "fc-amplitude-q4"]
    assert set(amplitude[amplitude["dataset"] == "mnist"]["model_kind"]) == {"device"}
    assert amplitude[amplitude["dataset"] == "digits"]["model_images"].isna().all()
    gains = pd.read_csv(aggregated / "metrics/noise_gains.csv")
    calibrated = gains[(gains["student"] == "pca-angle-q3-chain") & (gains["model"] == "calibrated")]
    assert len(calibrated) == 2 * len(TEACHERS) and set(calibrated["level"]) == {"1000 images"}
    device = gains[(gains["student"] == "fc-amplitude-q4") & (gains["level"] == "1000 images")]
    assert set(device["dataset"]) == {"mnist"} and set(device["model"]) == {"device"}
    markdown = (aggregated / "metrics/error_table.md").read_text()
    assert "| mnist | pca-angle-q3-chain | baseline | calibrated | 36.00 ± 1.00 |" in markdown
    assert "| mnist | fc-amplitude-q4 | baseline | device | 31.00 ± 1.00 |" in markdown


def test_a_pipeline_of_classical_controls_only_gets_an_empty_off_simulator_section(tmp_path):
    from c2q.reporting.hardware_table import hardware_table, noise_gains, plot_error_vs_noise, to_markdown

    nothing_quantum = pd.DataFrame(columns=["dataset", "student", "role", "teacher", "seed", "test_error"])
    table, gains = hardware_table(nothing_quantum), noise_gains(nothing_quantum)
    assert table.empty and gains.empty and to_markdown(table, gains) == ""
    plot_error_vs_noise(nothing_quantum, tmp_path / "noise.png")
    assert (tmp_path / "noise.png").read_bytes()[:4] == b"\x89PNG"
