"""The regime map's report: gains with confidence intervals, choices made on validation, figures.

Input is one record per training (the cells' metrics files). Every gain is
paired by student seed: baseline and distilled students of one seed share
initial weights, training subset and batch order, and the distilled one learns
from that seed's teacher (c2q.study.teacher_seed), so the interval covers
student, data-subset and teacher variance. Gains are in percentage points,
positive when distillation lowers the test error.

"Selected on validation": per (dataset, student, size) the distilled arm
(teacher, method, T, alpha) with the highest mean validation accuracy over
seeds is chosen; only then is its test error compared with the baseline's.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from c2q.reporting.figures import pyplot
from c2q.reporting.stats import paired_gain, spread

CELL = ["dataset", "classes", "student", "qubits", "size"]
ARM = ["teacher", "method", "temperature", "alpha"]


def _setting(row) -> str:
    return f"{row.teacher} {row.method} T={row.temperature:g} α={row.alpha:g}"


def gains_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, distilled arm): errors, gain with 95% CI, p-value and wins over seeds."""
    base = records[records["role"] == "baseline"].set_index(CELL + ["seed"])["test_error"]
    base_val = records[records["role"] == "baseline"].set_index(CELL + ["seed"])["best_val_accuracy"]
    rows = []
    for key, group in records[records["role"] == "distilled"].groupby(CELL + ARM, sort=False):
        index = [tuple(key[: len(CELL)]) + (s,) for s in group["seed"]]
        b, d = base.loc[index].to_numpy(), group["test_error"].to_numpy()
        g = paired_gain(100 * b, 100 * d)
        rows.append({**dict(zip(CELL + ARM, key)), "seeds": len(group),
                     "baseline_error": 100 * b.mean(), "baseline_error_std": 100 * spread(b).std,
                     "distilled_error": 100 * d.mean(), "distilled_error_std": 100 * spread(d).std,
                     "gain": g.mean, "gain_ci_low": g.ci_low, "gain_ci_high": g.ci_high, "p_value": g.p_value,
                     "wins": g.wins, "val_accuracy": 100 * group["best_val_accuracy"].mean(),
                     "baseline_val_accuracy": 100 * base_val.loc[index].mean()})
    return pd.DataFrame(rows)


def selected_on_validation(gains: pd.DataFrame) -> pd.DataFrame:
    """Per cell, the distilled arm with the best mean validation accuracy (ties: the first listed)."""
    best = gains.loc[gains.groupby(CELL, sort=False)["val_accuracy"].idxmax()]
    return best.reset_index(drop=True)


def with_settings(gains: pd.DataFrame, settings: list[tuple]) -> pd.DataFrame:
    """The rows whose (method, temperature, alpha) is one of `settings`."""
    keys = list(zip(gains["method"], gains["temperature"], gains["alpha"]))
    return gains[[k in settings for k in keys]]


def _pm(mean: float, std: float) -> str:
    return f"{mean:.2f} ± {std:.2f}" if not math.isnan(std) else f"{mean:.2f}"


def _gain(r) -> str:
    ci = f" [{r.gain_ci_low:+.2f}, {r.gain_ci_high:+.2f}]" if not math.isnan(r.gain_ci_low) else ""
    return f"{r.gain:+.2f}{ci}"


def _p(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:.3f}" if p >= 0.001 else "<0.001"


def _table(title: str, header: list[str], rows: list[list]) -> list[str]:
    """A Markdown section: its title, then a table."""
    lines = [f"\n## {title}\n" if title else "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


def markdown(selected: pd.DataFrame, reference: pd.DataFrame, notebooks: pd.DataFrame) -> str:
    """The report's tables: choices on validation, the notebooks' configurations, the reference settings."""
    errors = ["distilled error (%)", "gain (pp) [95% CI]", "p", "wins"]

    def outcome(r) -> list:
        return [_pm(r.distilled_error, r.distilled_error_std), _gain(r), _p(r.p_value), f"{r.wins}/{r.seeds}"]

    out = _table("Best distillation, chosen on validation",
                 ["dataset", "student", "per class", "baseline error (%)", "chosen (on validation)", *errors],
                 [[r.dataset, r.student, r.size, _pm(r.baseline_error, r.baseline_error_std), _setting(r), *outcome(r)]
                  for r in selected.itertuples()])
    out.insert(1, "Per (dataset, student, size) the teacher and setting with the best mean validation accuracy; "
                  "gain = baseline − distilled test error (pp), 95% CI over paired seeds.\n")
    out += _table("The paper notebooks' configurations",
                  ["dataset", "classes", "student", "teacher", "baseline error (%)", *errors],
                  [[r.dataset, r.classes, r.student, r.teacher, _pm(r.baseline_error, r.baseline_error_std), *outcome(r)]
                   for r in notebooks.itertuples()])
    out += _table("Reference settings, every teacher and size",
                  ["dataset", "student", "per class", "teacher", "setting", *errors],
                  [[r.dataset, r.student, r.size, r.teacher, f"{r.method} T={r.temperature:g} α={r.alpha:g}", *outcome(r)]
                   for r in reference.itertuples()])
    return "\n".join(out).lstrip("\n") + "\n"


# ---- figures ----

def images_per_class(records: pd.DataFrame, classes: dict[str, int]) -> dict[tuple, float]:
    """{(dataset, size): training images per class}; `all` is the whole split's mean per class."""
    return {(r.dataset, r.size): float(r.size) if r.size != "all" else r.train_samples / classes[r.dataset]
            for r in records.itertuples()}


def plot_gain_vs_size(gains: pd.DataFrame, selected: pd.DataFrame, reference_settings: list[tuple],
                      teacher: str, samples: dict, path: Path) -> None:
    """Gain vs training images per class (log axis), one panel per (dataset, student): each reference
    setting from `teacher`, and the arm chosen on validation; bands are 95% CIs."""
    plt = pyplot()
    datasets, students = list(dict.fromkeys(gains["dataset"])), list(dict.fromkeys(gains["student"]))
    fig, axes = plt.subplots(len(datasets), len(students), figsize=(max(7.0, 4.8 * len(students)), 3.9 * len(datasets)),
                             squeeze=False, sharex=True)
    for ax, (dataset, student) in zip(axes.flat, [(d, s) for d in datasets for s in students]):
        of = gains[(gains["dataset"] == dataset) & (gains["student"] == student)]
        lines = [(f"{m} T={t:g} α={a:g}", of[(of["teacher"] == teacher) & (of["method"] == m)
                                              & (of["temperature"] == t) & (of["alpha"] == a)])
                 for m, t, a in reference_settings]
        lines.append(("chosen on validation (any teacher)", selected[(selected["dataset"] == dataset)
                                                        & (selected["student"] == student)]))
        for label, rows in lines:
            x = np.array([samples[(dataset, s)] for s in rows["size"]])
            order = np.argsort(x)
            x, rows = x[order], rows.iloc[order]
            style = {"color": "black", "linewidth": 2} if label.startswith("chosen") else {}
            ax.plot(x, rows["gain"], marker="o", label=label, **style)
            ax.fill_between(x, rows["gain_ci_low"], rows["gain_ci_high"], alpha=0.15, color=ax.lines[-1].get_color())
        ax.axhline(0, color="gray", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{dataset} {student}", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("gain: baseline − distilled (pp)")
    axes[0][0].legend(fontsize=7, title=f"teacher: {teacher}", title_fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("training images per class (log)")
    fig.suptitle("Distillation gain vs training-set size (mean over seeds, 95% CI bands)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_heatmaps(gains: pd.DataFrame, size, teacher: str, path: Path) -> None:
    """T x alpha heatmaps of the mean gain at one size, a panel per (dataset, student, method); a star
    marks a gain whose 95% CI excludes 0."""
    plt = pyplot()
    rows = gains[(gains["size"].astype(str) == str(size)) & (gains["teacher"] == teacher)]
    rows = rows[rows.groupby(["dataset", "student", "method"])["temperature"].transform("nunique") > 1]
    grids = list(dict.fromkeys(zip(rows["dataset"], rows["student"])))
    methods = list(dict.fromkeys(rows["method"]))
    if not grids:
        raise ValueError(f"no temperature x alpha sweep at size {size} with teacher {teacher}")
    limit = max(0.5, float(rows["gain"].abs().max()))
    fig, axes = plt.subplots(len(grids), len(methods), figsize=(3.6 * len(methods) + 1.2, 3.3 * len(grids)),
                             squeeze=False, constrained_layout=True)
    for ax, ((dataset, student), method) in zip(axes.flat, [(g, m) for g in grids for m in methods]):
        of = rows[(rows["dataset"] == dataset) & (rows["student"] == student) & (rows["method"] == method)]
        gain = of.pivot_table(index="temperature", columns="alpha", values="gain")
        sure = (of.assign(sure=(of["gain_ci_low"] > 0) | (of["gain_ci_high"] < 0))
                .pivot_table(index="temperature", columns="alpha", values="sure"))
        image = ax.imshow(gain.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, origin="lower", aspect="auto")
        ax.set_xticks(range(len(gain.columns)), [f"{a:g}" for a in gain.columns])
        ax.set_yticks(range(len(gain.index)), [f"{t:g}" for t in gain.index])
        for i in range(gain.shape[0]):
            for j in range(gain.shape[1]):
                if not math.isnan(gain.iat[i, j]):
                    star = "*" if sure.iat[i, j] else ""
                    ax.text(j, i, f"{gain.iat[i, j]:+.1f}{star}", ha="center", va="center", fontsize=8)
        ax.set_xlabel("alpha")
        ax.set_ylabel("temperature")
        ax.set_title(f"{dataset} {student}\n{method}, teacher {teacher}, {size}/class", fontsize=9)
    fig.colorbar(image, ax=axes.ravel().tolist(), label="gain: baseline − distilled (pp)", shrink=0.6)
    fig.savefig(path, dpi=110)
    plt.close(fig)
