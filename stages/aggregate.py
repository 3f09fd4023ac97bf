"""Stage aggregate: read every metrics file the params call for; write the error table and its plots;
register the students.

It reads files, not MLflow, and only the configurations in params.yaml, so a
stale file from a removed configuration never reaches the table, and a stage
restored from DVC's cache counts like one that ran. Last, it registers in
MLflow's Model Registry, per dataset, student, role and teacher, the seed
chosen on validation (c2q.tracking.registry), which writes no file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from c2q.core import paths
from c2q.core.config import Params, load_params, select
from c2q.core.io import atomic_path, load_json, save_json
from c2q.core.variants import parse_student
from c2q.reporting import hardware_table as hardware_report
from c2q.reporting import error_table as report
from c2q.reporting.tables import read_table
from c2q.tracking.registry import chosen, register
from c2q.tracking.runs import stage_run
from stages import run


def parse_args(argv: list[str]) -> argparse.Namespace:
    return argparse.ArgumentParser(description=__doc__).parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return "aggregate"


def params_read(args: argparse.Namespace) -> list[str]:
    return ["datasets", "students", "seeds", "data.classes", "distill.teachers"]


def metrics_files(params: Params) -> tuple[list[Path], list[tuple[dict, Path]]]:
    """(teacher summaries per dataset, [(student record without its numbers, its metrics file)]).
    A quantum student's record names its off-simulator evaluation's file too (`evaluation_file`)."""
    classes = params.data.classes
    classes = classes if classes == "all" else ",".join(map(str, classes))
    students = []
    for dataset in params.datasets:
        for student, role, seed, teacher in params.trainings():
            v = parse_student(student)
            record = {"dataset": dataset, "student": student, "reduction": v.reduction, "encoding": v.encoding,
                      "qubits": v.qubits, "classes": classes, "role": role, "teacher": teacher or "none", "seed": seed}
            if not v.classical:
                record["evaluation_file"] = paths.evaluation_metrics(role, dataset, student, seed, teacher)
            students.append((record, paths.student_metrics(role, dataset, student, seed, teacher)))
    return [paths.logits_metrics(d) for d in params.datasets], students


def collect(datasets: list[str], teacher_files: list[Path],
            student_files: list[tuple[dict, Path]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per trained student, one row per teacher) from the metrics files `metrics_files` names."""
    teachers = [{"dataset": dataset, "teacher": teacher, **row}
                for dataset, path in zip(datasets, teacher_files) for teacher, row in load_json(path).items()]
    students = []
    for record, path in student_files:
        m = load_json(path)
        numbers = ("test_error", "best_val_accuracy", "quantum_parameters", "classical_parameters", "near_chance",
                   "hit_cap", "key")
        row = {**record, **{k: m[k] for k in numbers}}
        if evaluation_file := row.pop("evaluation_file", None):
            row.update(off_simulator(load_json(evaluation_file)))
        students.append(row)
    return pd.DataFrame(students), pd.DataFrame(teachers)


def off_simulator(evaluation: dict) -> dict:
    """A quantum student's numbers for c2q.reporting.hardware_table: its shot error on the test set, its
    noisy evaluation on the subset and, for a -chain or small student, on many images (stage evaluate)."""
    noise = evaluation["noisy_subset"]
    model = evaluation.get("noisy_model")  # many images by density matrix: -chain and small students
    return {
        **({"model_kind": model.get("model", "calibrated"), "model_images": model["images"],
            "model_exact": model["test_error_exact"],
            "model_noisy": model["test_error_noisy"], "model_mitigated": model["test_error_noisy_mitigated"]}
           if model else {}),
        "test_error_shots": evaluation["test_error_shots"], "shots": noise["shots"], "images": noise["images"],
        "subset_exact": noise["test_error_exact"], "subset_device": noise["test_error_device"],
        "subset_noisy": noise["test_error_noisy"], "subset_mitigated": noise["test_error_noisy_mitigated"],
        "noise": noise["noise"], "device": noise["device"],
        "depth": noise["device_circuit"]["depth"], "two_qubit_gates": noise["device_circuit"]["two_qubit_gates"],
        "strengths": noise["depolarising"]["strengths"], "sweep": noise["depolarising"]["test_error"],
    }


def _device(quantum: pd.DataFrame) -> str:
    return str(quantum["device"].iloc[0]) if len(quantum) else "no device"


def write_tables(records: pd.DataFrame, teachers: pd.DataFrame) -> dict:
    """Every output file of the stage; returns the headline numbers."""
    gains = report.gains_table(records, teachers)
    table = report.error_table(records, gains)
    quantum = records[records["noise"].notna()] if "noise" in records else records.iloc[:0]
    hardware = hardware_report.hardware_table(quantum)
    noise_gains = hardware_report.noise_gains(quantum)
    for frame, path in ((table, paths.ERROR_TABLE_CSV), (gains, paths.GAINS_CSV),
                        (hardware, paths.HARDWARE_CSV), (noise_gains, paths.NOISE_GAINS_CSV)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.4f")
    markdown = report.to_markdown(read_table(paths.ERROR_TABLE_CSV), read_table(paths.GAINS_CSV)) + "\n" \
        + hardware_report.to_markdown(read_table(paths.HARDWARE_CSV), read_table(paths.NOISE_GAINS_CSV))
    with atomic_path(paths.ERROR_TABLE_MD) as tmp:
        tmp.write_text(markdown)
    for plot, path in ((lambda p: report.plot_errors_by_method(gains, table, p), paths.ERRORS_PLOT),
                       (lambda p: report.plot_gains(gains, p), paths.GAINS_PLOT),
                       (lambda p: hardware_report.plot_error_vs_noise(quantum, p), paths.NOISE_PLOT),
                       (lambda p: hardware_report.plot_device_errors(hardware, _device(quantum), p), paths.DEVICE_PLOT)):
        with atomic_path(path) as tmp:
            plot(tmp)
    headline = report.summary(gains, records)
    save_json(headline, paths.SUMMARY)
    print(markdown)
    return headline


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    logged = select(params, params_read(args))
    with stage_run(run_name(args), params.mlflow.experiment, logged, {"role": "aggregate"}) as tracker:
        teacher_files, student_files = metrics_files(params)
        evaluation_files = [r["evaluation_file"] for r, _ in student_files if "evaluation_file" in r]
        tracker.log_inputs(teacher_files + [p for _, p in student_files] + evaluation_files)
        records, teachers = collect(params.datasets, teacher_files, student_files)
        headline = write_tables(records, teachers)
        tracker.log_metrics(headline)
        for path in (paths.ERROR_TABLE_CSV, paths.GAINS_CSV, paths.HARDWARE_CSV, paths.NOISE_GAINS_CSV,
                     paths.ERROR_TABLE_MD, paths.SUMMARY, paths.ERRORS_PLOT, paths.GAINS_PLOT, paths.NOISE_PLOT,
                     paths.DEVICE_PLOT):
            tracker.log_artifact(path)
        rows = chosen(records).to_dict("records")
        for line in tracker.in_store(lambda client, experiment: [register(client, experiment, r) for r in rows],
                                     "registering the students chosen on validation"):
            print(line)


if __name__ == "__main__":
    run(main)
