"""The error table: teacher, baseline and distilled test errors per configuration."""

from __future__ import annotations

import pandas as pd


def error_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, student, teacher) from one row per trained student.

    `records` columns: dataset, student, teacher, teacher_error, seed,
    baseline_error, distilled_error (baseline and distilled of the same seed
    side by side). Errors are fractions; the table reports percent, with the
    standard deviation over seeds (ddof=1; NaN for a single seed).
    """
    records = records.assign(gain=records["baseline_error"] - records["distilled_error"])
    grouped = records.groupby(["dataset", "student", "teacher"], sort=False)
    table = grouped.agg(
        teacher_error=("teacher_error", "first"),
        baseline_error=("baseline_error", "mean"),
        baseline_error_std=("baseline_error", "std"),
        distilled_error=("distilled_error", "mean"),
        distilled_error_std=("distilled_error", "std"),
        gain=("gain", "mean"),
        seeds=("seed", "count"),
    ).reset_index()
    percent = [c for c in table.columns if c.endswith(("error", "error_std", "gain"))]
    table[percent] = table[percent] * 100
    return table


def to_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown, errors as `mean ± std` percent."""

    def cell(mean: float, std: float) -> str:
        return f"{mean:.2f}" if pd.isna(std) else f"{mean:.2f} ± {std:.2f}"

    header = "| dataset | student | teacher | teacher error % | baseline error % | distilled error % | gain (pp) | seeds |"
    lines = [header, "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in table.itertuples():
        lines.append(
            f"| {r.dataset} | {r.student} | {r.teacher} | {r.teacher_error:.2f} | "
            f"{cell(r.baseline_error, r.baseline_error_std)} | {cell(r.distilled_error, r.distilled_error_std)} | "
            f"{r.gain:+.2f} | {r.seeds} |"
        )
    return "\n".join(lines) + "\n"
