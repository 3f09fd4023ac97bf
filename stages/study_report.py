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
from c2q.reporting.tables import read_table
from c2q.study import report
from c2q.study.arms import NOTEBOOKS, cell_arms, cells
from c2q.study.config import StudyParams, load_study_params
from c2q.tracking.runs import stage_run
from stages import run

OUT = paths.STUDY_RESULTS


def parse_args(argv: list[str]) -> argparse.Namespace:
    return argparse.ArgumentParser(description=__doc__).parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return "study_report"


def params_read(args: argparse.Namespace) -> list[str]:
    return ["datasets", "students", "sizes", "seeds", "teacher_seeds", "validation", "baseline", "distill", "controls",
            "notebooks"]


def records(study: StudyParams) -> pd.DataFrame:
    """Every training the params call for, one row each (missing files stop the stage)."""
    rows = []
    for dataset, group, seed in cells(study):
        folder = paths.study_cell(dataset, group, seed)
        for arm in cell_arms(study, group, seed):
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


def images_per_class(data: pd.DataFrame, classes: dict[str, int]) -> dict[tuple, float]:
    """{(dataset, group): training images per class}; `all` is the whole split's mean per class."""
    return {(r.dataset, r.group): float(r.size) if r.size != "all" else r.train_samples / classes[r.dataset]
            for r in data.itertuples()}


def summary(data: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict:
    out = {"trainings": len(data), "hit_cap": int(data["hit_cap"].sum())}
    for name, table in tables.items():
        out[name] = {"tests": len(table), "surviving_positive": int((table["survives"] & (table["gain"] > 0)).sum()),
                     "surviving_negative": int((table["survives"] & (table["gain"] < 0)).sum())}
    return out


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    load_params()
    study = load_study_params()
    with stage_run(run_name(args), study.mlflow.experiment, {k: v for k, v in study.model_dump().items()
                                                              if k in params_read(args)}, {"role": "report"}) as tracker:
        data = records(study)
        on_map, on_notebooks = data[data["study"] == "regime-map"], data[data["study"] == NOTEBOOKS]
        chosen = report.choices(on_map)
        distillation, controls = report.split_gains(report.map_gains(on_map, chosen))
        tables = {
            "distillation": distillation,
            "controls": controls,
            "versus_controls": report.distillation_vs_controls(on_map, chosen),
            "quantum_vs_classical": report.quantum_vs_classical(
                on_map, chosen, {s: f"{s}-classical" for s in study.students if f"{s}-classical" in study.students}),
            "notebooks": report.notebooks_gains(on_notebooks),
            "notebooks_average": report.notebooks_average(on_notebooks),
        }
        described = {"notebooks_baselines": report.notebooks_baselines(on_notebooks),
                     "paper_averages": report.paper_averages(study.notebooks.datasets)}
        OUT.mkdir(parents=True, exist_ok=True)
        write_csv(chosen, "chosen.csv")
        write_csv(teacher_table(study), "teachers.csv")
        for name, table in {**tables, **described}.items():
            write_csv(table, f"{name}.csv")
        with atomic_path(OUT / "report.md") as tmp:
            tmp.write_text(report.markdown({name: read_table(OUT / f"{name}.csv") for name in {**tables, **described}}))
        samples = images_per_class(on_map, {d: len(DATASETS[d].classes) for d in study.datasets})
        with atomic_path(OUT / "gain_vs_size.png") as tmp:
            report.plot_gain_vs_size(tables["distillation"], tables["versus_controls"], samples, tmp)
        with atomic_path(OUT / "settings.png") as tmp:
            report.plot_settings(on_map, chosen, study.controls.students[0], tmp)
        numbers = summary(data, tables)
        save_json(numbers, OUT / "summary.json")
        tracker.log_metrics({f"{k}.{m}": v for k, t in numbers.items() if isinstance(t, dict) for m, v in t.items()}
                            | {"trainings": numbers["trainings"]})
        for name in OUTPUTS:
            tracker.log_artifact(OUT / name)
        print(f"study_report: {len(data)} trainings; " + "; ".join(
            f"{k}: {t['surviving_positive']}+/{t['surviving_negative']}- of {t['tests']} survive Holm"
            for k, t in numbers.items() if isinstance(t, dict)))


OUTPUTS = ("report.md", "chosen.csv", "teachers.csv", "distillation.csv", "controls.csv", "versus_controls.csv",
           "quantum_vs_classical.csv", "notebooks.csv", "notebooks_average.csv", "notebooks_baselines.csv",
           "paper_averages.csv", "gain_vs_size.png", "settings.png", "summary.json")


if __name__ == "__main__":
    run(main)
