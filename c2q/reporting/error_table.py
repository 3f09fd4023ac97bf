"""The error table and its plots, from one record per trained student.

Errors are reported in percent. Baseline and distilled students of one seed
are paired (same initial weights), so the gain of distillation is computed
seed by seed (see `c2q.reporting.stats`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from c2q.reporting.figures import pyplot
from c2q.reporting.paper import paper_error
from c2q.reporting.stats import paired_gain, spread

VARIANT_COLUMNS = ["dataset", "student", "reduction", "encoding", "qubits", "classes"]


def _pct(x: float) -> float:
    return 100 * x if x == x else math.nan  # keeps NaN


def _of_variant(frame: pd.DataFrame, variant: dict) -> pd.DataFrame:
    """The rows of `frame` whose VARIANT_COLUMNS equal `variant`'s values."""
    mask = pd.Series(True, index=frame.index)
    for col, value in variant.items():
        mask &= frame[col] == value
    return frame[mask]


def gains_table(records: pd.DataFrame, teachers: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, student variant, teacher): teacher, baseline, distilled and the paired gain.

    `records`: one row per trained student with VARIANT_COLUMNS, role
    (baseline / distilled), teacher, seed, test_error (fraction),
    quantum_parameters, classical_parameters, near_chance (its stage
    warned). `teachers`: dataset, teacher, test_error, parameters.
    """
    rows = []
    baselines = records[records["role"] == "baseline"]
    distilled = records[records["role"] == "distilled"]
    teacher_info = teachers.set_index(["dataset", "teacher"])
    for key, base in baselines.groupby(VARIANT_COLUMNS, sort=False):
        variant = dict(zip(VARIANT_COLUMNS, key))
        base = base.set_index("seed")["test_error"]
        for teacher, dist in _of_variant(distilled, variant).groupby("teacher", sort=False):
            dist = dist.set_index("seed")["test_error"]
            seeds = sorted(set(base.index) & set(dist.index))
            gain = paired_gain(base.loc[seeds].values, dist.loc[seeds].values)
            b, d = spread(base.loc[seeds].values), spread(dist.loc[seeds].values)
            t = teacher_info.loc[(variant["dataset"], teacher)]
            rows.append({
                **variant,
                "teacher": teacher,
                "teacher_error": _pct(t["test_error"]),
                "teacher_parameters": int(t["parameters"]),
                "baseline_error": _pct(b.mean), "baseline_error_std": _pct(b.std),
                "distilled_error": _pct(d.mean), "distilled_error_std": _pct(d.std),
                "gain": _pct(gain.mean), "gain_ci_low": _pct(gain.ci_low), "gain_ci_high": _pct(gain.ci_high),
                "p_value": gain.p_value, "wins": gain.wins, "seeds": gain.n,
            })
    return pd.DataFrame(rows)


def error_table(records: pd.DataFrame, gains: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, student variant); per-teacher columns (from `gains_table`) are prefixed `<teacher>.`."""
    rows = []
    for key, group in records[records["role"] == "baseline"].groupby(VARIANT_COLUMNS, sort=False):
        variant = dict(zip(VARIANT_COLUMNS, key))
        b = spread(group["test_error"].values)
        everyone = _of_variant(records, variant)
        row = {
            **variant,
            "students": len(everyone),
            "near_chance_students": int(everyone["near_chance"].sum()),
            "hit_cap_students": int(everyone["hit_cap"].sum()),
            "quantum_parameters": int(group["quantum_parameters"].iloc[0]),
            "classical_parameters": int(group["classical_parameters"].iloc[0]),
            "seeds": b.n,
            "baseline_error": _pct(b.mean),
            "baseline_error_std": _pct(b.std),
            "paper_error": paper_error(
                variant["dataset"], variant["reduction"], variant["encoding"], int(variant["qubits"]),
                variant["classes"] == "all",
            ),
        }
        for g in _of_variant(gains, variant).itertuples():
            for col in ("teacher_error", "teacher_parameters", "distilled_error", "distilled_error_std",
                        "gain", "gain_ci_low", "gain_ci_high", "p_value", "wins"):
                row[f"{g.teacher}.{col}"] = getattr(g, col)
        rows.append(row)
    return pd.DataFrame(rows)


# ---- Markdown ----

def mean_std(mean: float, std: float) -> str:
    if mean != mean:
        return "–"
    return f"{mean:.2f}" if std != std else f"{mean:.2f} ± {std:.2f}"


def _gain(g) -> str:
    ci = "" if g.gain_ci_low != g.gain_ci_low else f" [{g.gain_ci_low:+.2f}, {g.gain_ci_high:+.2f}]"
    return f"{g.gain:+.2f}{ci}"


def errors_markdown(table: pd.DataFrame, teachers: list[str]) -> str:
    """The error table: test error % per (dataset, student), baseline and distilled per teacher."""
    head = ["dataset", "student", "classes", "params (quantum / classical)", "baseline %"]
    head += [f"distilled % ({t})" for t in teachers] + ["paper % (Fig. 12)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 4 + "---:|" * (len(head) - 4)]
    for r in table.to_dict("records"):
        cells = [r["dataset"], r["student"], str(r["classes"]),
                 f"{r['quantum_parameters']} / {r['classical_parameters']}",
                 mean_std(r["baseline_error"], r["baseline_error_std"])]
        cells += [mean_std(r.get(f"{t}.distilled_error", math.nan), r.get(f"{t}.distilled_error_std", math.nan))
                  for t in teachers]
        paper = r["paper_error"]
        cells.append("–" if paper is None or paper != paper else f"{paper:.1f}")
        if r["near_chance_students"]:
            cells[1] += " ⚠"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def trainings_markdown(table: pd.DataFrame) -> str:
    """Which students ended near chance, and how many trainings reached the step cap."""
    lines = []
    flagged = [f"{r['dataset']} {r['student']} ({r['near_chance_students']} of {r['students']})"
               for r in table.to_dict("records") if r["near_chance_students"]]
    if flagged:
        lines += ["⚠ Students whose stage warned that they ended near chance on validation: "
                  + ", ".join(flagged) + ".", ""]
    capped = [f"{r['dataset']} {r['student']} ({r['hit_cap_students']} of {r['students']})"
              for r in table.to_dict("records") if r["hit_cap_students"]]
    lines += [f"Trainings that reached the step cap (student.max_steps) before early stopping: "
              f"{int(table['hit_cap_students'].sum())} of {int(table['students'].sum())}"
              + (": " + ", ".join(capped) if capped else "") + "."]
    return "\n".join(lines) + "\n"


def gains_markdown(gains: pd.DataFrame) -> str:
    """The gain of distillation per (dataset, student, teacher), with its interval, p-value and wins."""
    lines = ["| dataset | student | teacher | teacher error % | teacher params | gain (pp) [95% CI] | p | wins |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for g in gains.itertuples():
        p = "–" if g.p_value != g.p_value else f"{g.p_value:.3f}"
        lines.append(f"| {g.dataset} | {g.student} | {g.teacher} | {g.teacher_error:.2f} | {g.teacher_parameters:,} | "
                     f"{_gain(g)} | {p} | {g.wins}/{g.seeds} |")
    return "\n".join(lines) + "\n"


GAIN_NOTE = ("Gain of distillation = baseline error − distilled error of the same seed, in percentage points "
             "(positive: distillation helped), with its 95% t-interval and the paired t-test p-value.")


def teachers_of(gains: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(gains["teacher"])) if len(gains) else []


def to_markdown(table: pd.DataFrame, gains: pd.DataFrame) -> str:
    """metrics/error_table.md: the error table, the trainings' notes and the gains."""
    return "\n".join([errors_markdown(table, teachers_of(gains)), trainings_markdown(table), GAIN_NOTE + "\n",
                      gains_markdown(gains)])


def summary(gains: pd.DataFrame, records: pd.DataFrame) -> dict:
    """Headline numbers for `dvc metrics show`: per dataset and student, baseline vs best distilled; how
    many student trainings reached the step cap."""
    out: dict = {"trainings": {"students": len(records), "hit_cap": int(records["hit_cap"].sum())}}
    for (dataset, student), group in gains.groupby(["dataset", "student"], sort=False):
        best = group.loc[group["distilled_error"].idxmin()]
        out.setdefault(dataset, {})[student] = {
            "baseline_error": round(float(best["baseline_error"]), 4),
            "best_distilled_error": round(float(best["distilled_error"]), 4),
            "gain": round(float(best["gain"]), 4),
        }
    return out


# ---- plots ----

def plot_errors_by_method(gains: pd.DataFrame, table: pd.DataFrame, path: Path) -> None:
    """The paper's Fig. 12 view: test error per method and dataset, one panel (row) per qubit count.

    Bars are the baseline and each teacher's distilled student (mean over
    seeds, error bars one standard deviation); black diamonds are the paper's.
    """
    plt = pyplot()
    qubits = sorted(table["qubits"].unique())
    teachers = list(dict.fromkeys(gains["teacher"]))
    series = ["baseline"] + teachers
    groups = max((table["qubits"] == q).sum() for q in qubits)  # bar groups in the widest panel
    fig, axes = plt.subplots(len(qubits), 1, figsize=(min(16, max(6, 1.5 + 1.0 * groups)), 3.6 * len(qubits)),
                             squeeze=False, sharey=True)
    for ax, q in zip(axes[:, 0], qubits):
        rows = table[table["qubits"] == q].reset_index(drop=True)
        width = 0.8 / len(series)
        for i, name in enumerate(series):
            if name == "baseline":
                mean, std = rows["baseline_error"], rows["baseline_error_std"]
            else:
                mean = rows.get(f"{name}.distilled_error", pd.Series([math.nan] * len(rows)))
                std = rows.get(f"{name}.distilled_error_std", pd.Series([math.nan] * len(rows)))
            ax.bar([x + (i - (len(series) - 1) / 2) * width for x in range(len(rows))], mean, width,
                   yerr=std.fillna(0), capsize=3, label=name if name == "baseline" else f"distilled ({name})")
        paper = rows["paper_error"].astype(float)
        ax.scatter(range(len(rows)), paper, marker="D", color="black", zorder=3, label="paper (Fig. 12)")
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([f"{r.dataset}\n{r.reduction}\n+{r.encoding}" + (f"\nclasses {r.classes}" if r.classes != "all" else "")
                            for r in rows.itertuples()], fontsize=8)
        ax.set_title(f"{q} qubits")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("test error (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()  # below the panels, where it hides no bar or mark
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8)
    fig.suptitle("Quantum students: test error by method (mean ± std over seeds)")
    legend_inches = 0.3 * math.ceil(len(labels) / 3) + 0.15
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_gains(gains: pd.DataFrame, path: Path) -> None:
    """Distillation gain per configuration and teacher, with 95% confidence intervals."""
    plt = pyplot()
    labels = list(dict.fromkeys(f"{g.dataset} {g.student}" for g in gains.itertuples()))
    teachers = list(dict.fromkeys(gains["teacher"]))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels) + 2), 4.5))
    for i, teacher in enumerate(teachers):
        rows = gains[gains["teacher"] == teacher]
        x = [labels.index(f"{r.dataset} {r.student}") + (i - (len(teachers) - 1) / 2) * 0.2 for r in rows.itertuples()]
        low = (rows["gain"] - rows["gain_ci_low"]).fillna(0)
        high = (rows["gain_ci_high"] - rows["gain"]).fillna(0)
        ax.errorbar(x, rows["gain"], yerr=[low, high], fmt="o", capsize=4, label=teacher)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels([label.replace(" ", "\n") for label in labels], fontsize=8)
    ax.set_ylabel("gain: baseline − distilled error (pp)")
    ax.set_title("Distillation gain per teacher (mean over seeds, 95% CI)")
    ax.legend(title="teacher", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
