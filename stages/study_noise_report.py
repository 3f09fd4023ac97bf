"""Study stage study_noise_report: the seventh question's table, from the noise cells' metrics files.

Per dataset, noise student and distillation method: the tuned baseline's and distillation's settings
chosen on validation, then their paired difference in noisy test error over crossed student and
teacher seeds (c2q.study.report), Holm-corrected over the table; beside it the same chosen settings'
difference in exact error on the same test images. Reads only the trainings study/params.yaml calls
for (never MLflow).
"""

from __future__ import annotations

import argparse

import pandas as pd

from c2q.core import paths
from c2q.core.config import load_params
from c2q.core.io import atomic_path, load_json
from c2q.study import report
from c2q.study.config import StudyParams, load_study_params
from c2q.study.noise_plan import noise_arms
from c2q.tracking.runs import stage_run
from stages import run

OUT = paths.STUDY_RESULTS
OUTPUTS = ("noise.csv", "noise.md")


def parse_args(argv: list[str]) -> argparse.Namespace:
    return argparse.ArgumentParser(description=__doc__).parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return "study_noise_report"


def params_read(args: argparse.Namespace) -> list[str]:
    return ["seeds", "teacher_seeds", "validation", "baseline", "distill", "noise"]


def records(study: StudyParams) -> pd.DataFrame:
    """Every noise training the params call for, one row each (missing files stop the stage)."""
    rows = []
    for dataset in study.noise.datasets:
        for seed in study.seeds:
            folder = paths.study_noise_cell(dataset, seed)
            for arm in noise_arms(study, seed):
                record = load_json(folder / f"{arm.name}.json")
                rows.append({k: v for k, v in record.items() if k not in ("curve", "key")})
    return pd.DataFrame(rows)


def noise_table(data: pd.DataFrame) -> pd.DataFrame:
    """The Holm-corrected gains in noisy error, with the exact error's gains of the same choices beside them."""
    if data.empty:
        return report.with_holm(pd.DataFrame())
    chosen = report.choices(data)
    noisy = report.with_holm(report.map_gains(data, chosen))
    exact = report.map_gains(data.assign(test_error=data["test_error_exact"]), chosen)
    renamed = {c: f"exact_{c}" for c in ("baseline_error", "error", "gain", "ci_low", "ci_high", "p_value")}
    return pd.concat([noisy.reset_index(drop=True), exact[list(renamed)].rename(columns=renamed)], axis=1)


def markdown(table: pd.DataFrame, data: pd.DataFrame) -> str:
    if table.empty:
        return "## Distillation under device noise\n\nNo noise cells: study/params.yaml's noise.datasets is empty.\n"
    images, device = int(data["test_images"].iloc[0]), data["device"].iloc[0]
    note = (f"Students trained under {device}'s calibrated noise and tested under it on {images} test images "
            f"({int(data['shots'].iloc[0])} shots per qubit), by the density matrix. Baseline and distillation chosen "
            f"on (exact) validation from as many settings; gain = baseline − distilled noisy test error, paired "
            f"over student seeds × teacher seeds; beside it the same choices' gain in exact error on the same "
            f"images. {report._survivors(table)}")
    header = ["dataset", "per class", "student", "method", "baseline noisy (%) [setting]", "distilled noisy (%) "
              "[setting]", *report.TESTED, "exact gain (pp) [95% CI]"]
    rows = [[r.dataset, r.size, r.student, r.method, f"{r.baseline_error:.2f} [{r.baseline_setting}]",
             f"{r.error:.2f} [{r.setting}]", *report._tested(r),
             f"{r.exact_gain:+.2f} [{r.exact_ci_low:+.2f}, {r.exact_ci_high:+.2f}]"] for r in table.itertuples()]
    return "\n".join(report._table("Distillation under device noise", note, header, rows)).lstrip() + "\n"


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    load_params()
    study = load_study_params()
    logged = {k: v for k, v in study.model_dump().items() if k in params_read(args)}
    with stage_run(run_name(args), study.mlflow.experiment, logged, {"role": "report"}) as tracker:
        data = records(study)
        table = noise_table(data)
        OUT.mkdir(parents=True, exist_ok=True)
        with atomic_path(OUT / "noise.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.4f")
        with atomic_path(OUT / "noise.md") as tmp:
            tmp.write_text(markdown(table, data))
        up, down = int((table["survives"] & (table["gain"] > 0)).sum()), int((table["survives"] & (table["gain"] < 0)).sum())
        tracker.log_metrics({"trainings": len(data), "noise.tests": len(table), "noise.surviving_positive": up,
                             "noise.surviving_negative": down})
        for name in OUTPUTS:
            tracker.log_artifact(OUT / name)
        print(f"study_noise_report: {len(data)} trainings; {up}+/{down}- of {len(table)} survive Holm", flush=True)


if __name__ == "__main__":
    run(main)
