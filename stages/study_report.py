"""Study stage study_report: the regime map's tables and figures, from the cells' metrics files.

Reads only the trainings study/params.yaml calls for (never MLflow), so a file
of a removed setting or seed never reaches the report.
"""

from __future__ import annotations

import argparse

import pandas as pd

from c2q.core import paths
from c2q.core.config import load_params
from c2q.core.datasets import DATASETS
from c2q.core.io import atomic_path, load_json, save_json
from c2q.study import report
from c2q.study.arms import NOTEBOOKS, map_arms, notebook_arms
from c2q.study.config import StudyParams, load_study_params
from c2q.tracking.runs import stage_run
from stages import run

OUT = paths.STUDY_RESULTS


def parse_args(argv: list[str]) -> argparse.Namespace:
    return argparse.ArgumentParser(description=__doc__).parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return "study_report"


def params_read(args: argparse.Namespace) -> list[str]:
    return ["datasets", "students", "sizes", "seeds", "teacher_seeds", "distill", "notebooks"]


def records(study: StudyParams) -> pd.DataFrame:
    """Every training the params call for, one row each (missing files stop the stage)."""
    cells = [(d, str(size), s, map_arms(study)) for d in study.datasets for size in study.sizes for s in study.seeds]
    cells += [(d, NOTEBOOKS, s, notebook_arms(study)) for d in study.datasets for s in study.notebooks.seeds]
    rows = []
    for dataset, group, seed, arms in cells:
        folder = paths.study_cell(dataset, group, seed)
        for arm in arms:
            record = load_json(folder / f"{arm.name}.json")
            rows.append({k: v for k, v in record.items() if k not in ("curve", "key")})
    return pd.DataFrame(rows)


def teacher_table(study: StudyParams) -> pd.DataFrame:
    rows = []
    for dataset in study.datasets:
        for seed in study.teacher_seeds:
            for teacher, row in load_json(paths.study_teacher_metrics(dataset, seed)).items():
                rows.append({"dataset": dataset, "teacher_seed": seed, "teacher": teacher,
                             "val_error": 100 * row["val_error"], "test_error": 100 * row["test_error"]})
    return pd.DataFrame(rows)


def write_csv(frame: pd.DataFrame, name: str) -> None:
    with atomic_path(OUT / name) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.4f")


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    load_params()
    study = load_study_params()
    d = study.distill
    with stage_run(run_name(args), study.mlflow.experiment, {k: v for k, v in study.model_dump().items()
                                                              if k in params_read(args)}, {"role": "report"}) as tracker:
        data = records(study)
        gains = report.gains_table(data[data["study"] == "regime-map"])
        notebooks = report.gains_table(data[data["study"] == NOTEBOOKS])
        selected = report.selected_on_validation(gains)
        reference = report.with_settings(gains, [(s.method, s.temperature, s.alpha) for s in d.reference])
        teachers = teacher_table(study)
        OUT.mkdir(parents=True, exist_ok=True)
        write_csv(gains, "gains.csv")
        write_csv(selected, "selected.csv")
        write_csv(notebooks, "notebooks.csv")
        write_csv(teachers, "teachers.csv")
        with atomic_path(OUT / "report.md") as tmp:
            tmp.write_text(report.markdown(selected, reference, notebooks))
        samples = report.images_per_class(data[data["study"] == "regime-map"],
                                          {d: len(DATASETS[d].classes) for d in study.datasets})
        with atomic_path(OUT / "gain_vs_size.png") as tmp:
            report.plot_gain_vs_size(gains, selected, [(s.method, s.temperature, s.alpha) for s in d.reference],
                                     d.teacher, samples, tmp)
        heatmap_size = 150 if 150 in study.sizes else study.sizes[0]
        with atomic_path(OUT / "heatmap.png") as tmp:
            report.plot_heatmaps(gains, heatmap_size, d.teacher, tmp)
        summary = {
            "trainings": len(data),
            "selected_wins": int((selected["gain_ci_low"] > 0).sum()),
            "selected_losses": int((selected["gain_ci_high"] < 0).sum()),
            "selected_cells": len(selected),
            "notebooks_mean_gain": round(float(notebooks["gain"].mean()), 4),
        }
        save_json(summary, OUT / "summary.json")
        tracker.log_metrics(summary)
        for name in ("report.md", "gains.csv", "selected.csv", "notebooks.csv", "teachers.csv", "gain_vs_size.png",
                     "heatmap.png", "summary.json"):
            tracker.log_artifact(OUT / name)
        print(f"study_report: {len(data)} trainings; chosen on validation: {summary['selected_wins']} of "
              f"{len(selected)} cells gain (95% CI above 0), {summary['selected_losses']} lose")


if __name__ == "__main__":
    run(main)
