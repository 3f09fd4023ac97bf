"""What each generated block holds, rendered from the committed result files (paths relative to the
repository root), never from MLflow and never from a rerun."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from c2q.core import paths
from c2q.reporting import error_table, hardware_table
from c2q.reporting.tables import read_table

STUDY = Path("study/results")
NOT_RUN = ("_The study's results are not in this commit: `{file}` is written by `make study` "
           "(study/dvc.yaml's `study_report`); commit `study/results/` and run `make docs`._\n")


def _errors(root: Path) -> str:
    gains = read_table(root / paths.GAINS_CSV)
    return error_table.errors_markdown(read_table(root / paths.ERROR_TABLE_CSV), error_table.teachers_of(gains))


def _gains(root: Path) -> str:
    return error_table.GAIN_NOTE + "\n\n" + error_table.gains_markdown(read_table(root / paths.GAINS_CSV))


def _trainings(root: Path) -> str:
    return error_table.trainings_markdown(read_table(root / paths.ERROR_TABLE_CSV))


def _teachers(root: Path) -> str:
    """The teachers' test errors, one line per dataset."""
    gains = read_table(root / paths.GAINS_CSV).drop_duplicates(["dataset", "teacher"])
    lines = [f"- {dataset}: " + ", ".join(f"{r.teacher} {r.teacher_error:.2f} % ({r.teacher_parameters:,} parameters)"
                                          for r in group.itertuples())
             for dataset, group in gains.groupby("dataset", sort=False)]
    return "Teachers' test error:\n\n" + "\n".join(lines) + "\n"


def _gain_summary(root: Path) -> str:
    """Per (dataset, student): the range of gains over teachers, wins, and which intervals exclude zero."""
    lines = []
    for (dataset, student), g in read_table(root / paths.GAINS_CSV).groupby(["dataset", "student"], sort=False):
        excluded = [f"{r.teacher} ({'gain' if r.gain > 0 else 'loss'}, p {r.p_value:.3f})" for r in g.itertuples()
                    if r.gain_ci_low > 0 or r.gain_ci_high < 0]
        lines.append(f"- {dataset} {student}: gain {g['gain'].min():+.2f} to {g['gain'].max():+.2f} points over "
                     f"{len(g)} teachers, {int(g['wins'].sum())} wins of {int(g['seeds'].sum())} seed pairs; "
                     f"interval excludes zero: {', '.join(excluded) or 'none'}")
    return "\n".join(lines) + "\n"


def _hardware(root: Path) -> str:
    return hardware_table.to_markdown(read_table(root / paths.HARDWARE_CSV), read_table(root / paths.NOISE_GAINS_CSV))


def _device(root: Path) -> str:
    """Every baseline student on the device: its exact error and its noisy and mitigated ones, each with
    the 95% half-width its image count implies (c2q.reporting.hardware_table.device_rows)."""
    rows = hardware_table.device_rows(read_table(root / paths.HARDWARE_CSV), "baseline")
    lines = ["| dataset | student | exact % (same images) | on the device % | mitigated % | images | 2q gates |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['dataset']} | {r['student']} | {r['exact']:.2f} | {r['noisy']:.2f} ± {r['half_width']:.1f} | "
              f"{r['mitigated']:.2f} | {r['images']:,} | {r['two_qubit_gates']:.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


def _interval(r) -> str:
    return f"{r.gain:+.2f}" if pd.isna(r.ci_low) else f"{r.gain:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"


def _study_notebooks(root: Path) -> str:
    """The paper's claim in c2q's runs (every regime, both ways of choosing the epoch) beside the paper's own
    averages with and without its defective notebooks."""
    average = read_table(root / STUDY / "notebooks_average.csv")
    paper = read_table(root / STUDY / "paper_averages.csv").set_index(["dataset", "runs"])["gain"]
    selections = list(dict.fromkeys(average["selection"]))
    lines = ["| regime | dataset | " + " | ".join(f"gain (pp), epoch chosen {s}" for s in selections)
             + " | the paper: every notebook | without defective ones |", "|---|---|" + "---:|" * (len(selections) + 2)]
    for (regime, dataset), rows in average.groupby(["regime", "dataset"], sort=False):
        by = rows.set_index("selection")
        cells = [_interval(by.loc[s]) + (" ✓" if by.loc[s, "survives"] else "") for s in selections]
        cells += [f"{paper[(dataset, runs)]:+.2f}" for runs in ("every notebook", "without defective notebooks")]
        lines.append(f"| {regime} | {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _study_counts(root: Path) -> str:
    """How many tests each of the study's tables holds and how many survive Holm's correction."""
    numbers = json.loads((root / STUDY / "summary.json").read_text())
    lines = [f"{numbers['trainings']:,} trainings ({numbers['hit_cap']} reached the step cap).", "",
             "| table | tests | positive after Holm | negative after Holm |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {t['tests']} | {t['surviving_positive']} | {t['surviving_negative']} |"
              for name, t in numbers.items() if isinstance(t, dict)]
    return "\n".join(lines) + "\n"


BLOCKS: dict[str, Callable[[Path], str]] = {
    "error-table": _errors,
    "gains-table": _gains,
    "trainings": _trainings,
    "teachers": _teachers,
    "gain-summary": _gain_summary,
    "hardware-table": _hardware,
    "device-table": _device,
    "study-notebooks": _study_notebooks,
    "study-counts": _study_counts,
}


def slug(title: str) -> str:
    """GitHub's anchor of a heading."""
    return "".join(c for c in title.strip().lower() if c.isalnum() or c in " -_").replace(" ", "-")


def section(path: Path, anchor: str) -> str:
    """The body of the `## ` section of Markdown file `path` whose heading's anchor is `anchor`."""
    parts = re.split(r"^## (.+)$", path.read_text(), flags=re.M)
    for title, body in zip(parts[1::2], parts[2::2]):
        if slug(title) == anchor:
            return body.strip("\n") + "\n"
    raise KeyError(f"{path} has no section #{anchor}")


def render(name: str, root: Path) -> str:
    """The content of block `name`: a registered block, or `<file.md>#<anchor>` for a report's section.
    A block of the study's results says so when they are not committed; any other missing file is an error."""
    if "#" not in name and name not in BLOCKS:
        raise KeyError(f"unknown block {name!r}; known: {', '.join(BLOCKS)}, or <file.md>#<anchor>")
    try:
        if "#" in name:
            file, anchor = name.split("#", 1)
            return section(root / file, anchor)
        return BLOCKS[name](root)
    except FileNotFoundError as missing:
        file = Path(missing.filename).relative_to(root)
        if file.parent != STUDY:
            raise
        return NOT_RUN.format(file=file.as_posix())
