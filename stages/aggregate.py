"""Stage aggregate: read every metrics file the params call for; write the error table and its plots.

It reads files, not MLflow, and only the configurations in params.yaml, so a
stale file from a removed configuration never reaches the table, and a stage
restored from DVC's cache counts like one that ran.
"""

from __future__ import annotations

import argparse

import pandas as pd

from c2q import paths, report
from c2q.config import ConfigError, load_params, parse_student
from c2q.io import atomic_path, load_json, save_json
from c2q.tracking import stage_run
from stages import run


def collect(params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per trained student, one row per teacher) from the metrics files."""
    students, teachers, missing = [], [], []

    def read(path):
        if not path.is_file():
            missing.append(str(path))
            return None
        return load_json(path)

    classes = params["data"]["classes"]
    classes = classes if classes == "all" else ",".join(map(str, classes))
    for dataset in params["datasets"]:
        for teacher, row in (read(paths.logits_metrics(dataset)) or {}).items():
            teachers.append({"dataset": dataset, "teacher": teacher, **row})
        for student in params["students"]:
            v = parse_student(student)
            variant = {"dataset": dataset, "student": student, "reduction": v.reduction, "encoding": v.encoding,
                       "qubits": v.qubits, "classes": classes}
            for seed in params["seeds"]:
                runs = [("baseline", None)] + [("distilled", t) for t in params["distill"]["teachers"]]
                for role, teacher in runs:
                    m = read(paths.student_metrics(role, dataset, student, seed, teacher))
                    if m:
                        students.append({**variant, "role": role, "teacher": teacher or "none", "seed": seed,
                                         "test_error": m["test_error"],
                                         "quantum_parameters": m["quantum_parameters"],
                                         "classical_parameters": m["classical_parameters"]})
    if missing:
        raise ConfigError([f"metrics file {m} is missing; run its stage first (dvc repro)" for m in missing])
    return pd.DataFrame(students), pd.DataFrame(teachers)


def main(argv: list[str]) -> None:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    params = load_params()
    logged = {k: params[k] for k in ("datasets", "students", "seeds")}
    logged["distill"] = {"teachers": params["distill"]["teachers"]}
    logged["data"] = {"classes": params["data"]["classes"]}
    with stage_run("aggregate", params["mlflow"]["experiment"], logged, {"role": "aggregate"}) as tracker:
        records, teachers = collect(params)
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
        tracker.log_metrics(headline)
        for path in (paths.ERROR_TABLE_CSV, paths.GAINS_CSV, paths.ERROR_TABLE_MD, paths.SUMMARY,
                     paths.ERRORS_PLOT, paths.GAINS_PLOT):
            tracker.log_artifact(path)
        print(markdown)


if __name__ == "__main__":
    run(main)
