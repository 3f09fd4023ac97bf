"""Stage aggregate: read every metrics file the params call for; write the error table and its plots.

It reads files, not MLflow, and only the configurations in params.yaml, so a
stale file from a removed configuration never reaches the table, and a stage
restored from DVC's cache counts like one that ran.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from c2q import paths, report
from c2q.config import Params, load_params, select
from c2q.io import atomic_path, load_json, save_json
from c2q.tracking import stage_run
from c2q.variants import parse_student
from stages import run


def parse_args(argv: list[str]) -> argparse.Namespace:
    return argparse.ArgumentParser(description=__doc__).parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return "aggregate"


def params_read(args: argparse.Namespace) -> list[str]:
    return ["datasets", "students", "seeds", "data.classes", "distill.teachers"]


def metrics_files(params: Params) -> tuple[list[Path], list[tuple[dict, Path]]]:
    """(teacher summaries per dataset, [(student record without its numbers, its metrics file)])."""
    classes = params.data.classes
    classes = classes if classes == "all" else ",".join(map(str, classes))
    runs = [("baseline", None)] + [("distilled", t) for t in params.distill.teachers]
    students = []
    for dataset in params.datasets:
        for student in params.students:
            v = parse_student(student)
            variant = {"dataset": dataset, "student": student, "reduction": v.reduction, "encoding": v.encoding,
                       "qubits": v.qubits, "classes": classes}
            for seed in params.seeds:
                for role, teacher in runs:
                    record = {**variant, "role": role, "teacher": teacher or "none", "seed": seed}
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
        numbers = ("test_error", "quantum_parameters", "classical_parameters", "near_chance")
        students.append({**record, **{k: m[k] for k in numbers}})
    return pd.DataFrame(students), pd.DataFrame(teachers)


def write_tables(records: pd.DataFrame, teachers: pd.DataFrame) -> dict:
    """Every output file of the stage; returns the headline numbers."""
    gains = report.gains_table(records, teachers)
    table = report.error_table(records, gains)
    with atomic_path(paths.ERROR_TABLE_CSV) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    with atomic_path(paths.GAINS_CSV) as tmp:
        gains.to_csv(tmp, index=False, float_format="%.4f")
    markdown = report.to_markdown(table, gains)
    with atomic_path(paths.ERROR_TABLE_MD) as tmp:
        tmp.write_text(markdown)
    with atomic_path(paths.ERRORS_PLOT) as tmp:
        report.plot_errors_by_method(gains, table, tmp)
    with atomic_path(paths.GAINS_PLOT) as tmp:
        report.plot_gains(gains, tmp)
    headline = report.summary(gains)
    save_json(headline, paths.SUMMARY)
    print(markdown)
    return headline


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    logged = select(params, params_read(args))
    with stage_run(run_name(args), params.mlflow.experiment, logged, {"role": "aggregate"}) as tracker:
        teacher_files, student_files = metrics_files(params)
        tracker.log_inputs(teacher_files + [p for _, p in student_files])
        headline = write_tables(*collect(params.datasets, teacher_files, student_files))
        tracker.log_metrics(headline)
        for path in (paths.ERROR_TABLE_CSV, paths.GAINS_CSV, paths.ERROR_TABLE_MD, paths.SUMMARY,
                     paths.ERRORS_PLOT, paths.GAINS_PLOT):
            tracker.log_artifact(path)


if __name__ == "__main__":
    run(main)
