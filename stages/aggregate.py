"""Stage aggregate: read every metrics file the params call for and write the error table.

It reads files, not MLflow, and only the configurations in params.yaml, so
stale files from removed configurations never reach the table.
"""

from __future__ import annotations

import argparse

import pandas as pd

from c2q import paths
from c2q.config import ConfigError, load_params
from c2q.io import atomic_path, load_json, save_json
from c2q.report import error_table, to_markdown
from c2q.tracking import stage_run
from stages import run


def collect(params: dict) -> pd.DataFrame:
    """One row per (dataset, student, teacher, seed) from the metrics files."""
    rows, missing = [], []

    def read(path):
        if not path.is_file():
            missing.append(str(path))
            return None
        return load_json(path)

    for dataset in params["datasets"]:
        teachers = read(paths.logits_metrics(dataset)) or {}
        for teacher in params["distill"]["teachers"]:
            t = teachers.get(teacher)
            for student in params["students"]:
                for seed in params["seeds"]:
                    b = read(paths.student_metrics("baseline", dataset, student, seed))
                    d = read(paths.student_metrics("distilled", dataset, student, seed, teacher))
                    if t and b and d:
                        rows.append({
                            "dataset": dataset, "student": student, "teacher": teacher, "seed": seed,
                            "teacher_error": t["test_error"], "baseline_error": b["test_error"],
                            "distilled_error": d["test_error"],
                        })
    if missing:
        raise ConfigError([f"metrics file {m} is missing; run its stage first (dvc repro)" for m in missing])
    return pd.DataFrame(rows)


def main(argv: list[str]) -> None:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    params = load_params()
    logged = {k: params[k] for k in ("datasets", "students", "seeds")}
    logged["distill"] = {"teachers": params["distill"]["teachers"]}
    with stage_run("aggregate", params["mlflow"]["experiment"], logged, {"role": "aggregate"}) as tracker:
        table = error_table(collect(params))
        with atomic_path(paths.ERROR_TABLE_CSV) as tmp:
            table.to_csv(tmp, index=False, float_format="%.4f")
        with atomic_path(paths.ERROR_TABLE_MD) as tmp:
            tmp.write_text(to_markdown(table))
        summary = {
            f"{r.dataset}.{r.student}.{r.teacher}": {
                "teacher_error": r.teacher_error, "baseline_error": r.baseline_error,
                "distilled_error": r.distilled_error, "gain": r.gain,
            }
            for r in table.itertuples()
        }
        save_json(summary, paths.SUMMARY)
        for key, values in summary.items():
            tracker.log_metrics({f"{key}.{k}": v for k, v in values.items()})
        for path in (paths.ERROR_TABLE_CSV, paths.ERROR_TABLE_MD, paths.SUMMARY):
            tracker.log_artifact(path)
        print(to_markdown(table))


if __name__ == "__main__":
    run(main)
