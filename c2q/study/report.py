"""The study's report: every family's choice on validation, its gain with a corrected interval, figures.

Input is one record per training (the cells' metrics files). Gains are in percentage points of test
error, positive when the arm beats what it is compared with, and always paired: the trainings of one
cell share initial weights, training subset, validation subset and batch order.

- *Chosen on validation*: per cell (dataset, group, student) and family (and method), the setting
  with the highest mean validation accuracy over all its trainings; only then are test errors read.
- *Intervals*: a family's errors form a (student seeds x teacher seeds) grid (one column when no
  teacher seed enters), and a difference of two grids is analysed with student seed and teacher
  seed as random effects (c2q.reporting.stats.crossed_mean); in the notebooks' regime, where each
  student seed learns from one teacher seed, the teacher seed is a grouping random effect
  (grouped_mean). Every table's p-values are Holm-corrected over that table's tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from c2q.reporting.figures import pyplot
from c2q.reporting.paper import NOTEBOOK_RUNS, paper_average
from c2q.reporting.stats import Estimate, crossed_mean, grouped_mean, holm

CELL = ["dataset", "group", "size", "student"]
FAMILY = ["family", "method"]
SETTING = ["temperature", "alpha", "smoothing", "lr_scale"]
CONTROLS = ("label_smoothing", "onehot", "uniform", "permuted", "self")


def setting_text(row) -> str:
    if row["family"] == "baseline":
        return f"lr×{row['lr_scale']:g}, ε={row['smoothing']:g}"
    if row["family"] == "label_smoothing":
        return f"ε={row['smoothing']:g}"
    return f"T={row['temperature']:g}, α={row['alpha']:g}"


def family_text(family: str, method: str) -> str:
    return family if method == "none" else f"{family} {method}"


def _keyed(records: pd.DataFrame) -> pd.DataFrame:
    """Records with every setting column filled (-1: not used) and the teacher seed kept only where
    student seeds cross it (distillation); elsewhere it is one column, -1."""
    out = records.copy()
    for column in SETTING:
        out[column] = out[column].fillna(-1.0)
    crossed = out["family"] == "distill"
    out["teacher_seed"] = out["teacher_seed"].where(crossed, -1).fillna(-1).astype(int)
    return out


def choices(records: pd.DataFrame) -> pd.DataFrame:
    """Per cell and family, the setting chosen on validation: one row each, with its mean errors."""
    data = _keyed(records)
    means = data.groupby(CELL + FAMILY + SETTING, sort=False, dropna=False).agg(
        val_accuracy=("best_val_accuracy", "mean"), test_error=("test_error", "mean"),
        trainings=("test_error", "size")).reset_index()
    best = means.loc[means.groupby(CELL + FAMILY, sort=False)["val_accuracy"].idxmax()]
    return best.reset_index(drop=True)


def error_grid(records: pd.DataFrame, choice: pd.Series) -> pd.DataFrame:
    """Test errors (pp) of one chosen setting: student seeds x teacher seeds (-1: none)."""
    data = _keyed(records)
    mask = np.ones(len(data), dtype=bool)
    for column in CELL + FAMILY + SETTING:
        mask &= (data[column] == choice[column]).to_numpy()
    return data[mask].pivot_table(index="seed", columns="teacher_seed", values="test_error", aggfunc="first") * 100


def difference(worse: pd.DataFrame, better: pd.DataFrame) -> Estimate:
    """worse - better, seed by seed (a one-column grid broadcasts over teacher seeds)."""
    seeds = worse.index.intersection(better.index)
    a, b = worse.loc[seeds].to_numpy(), better.loc[seeds].to_numpy()
    return crossed_mean(a - b)


def _row(estimate: Estimate) -> dict:
    return {"gain": estimate.mean, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high,
            "p_value": estimate.p_value, "df": estimate.df, "n": estimate.n}


def with_holm(table: pd.DataFrame) -> pd.DataFrame:
    """The table with Holm-adjusted p-values over all its tests, and whether each survives at 5%."""
    if table.empty:
        return pd.DataFrame(columns=["gain", "ci_low", "ci_high", "p_value", "df", "n", "p_holm", "survives"])
    table = table.copy()
    table["p_holm"] = holm(table["p_value"])
    table["survives"] = table["p_holm"] < 0.05
    return table


def map_gains(records: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """Per cell, every family's chosen setting against the tuned baseline's (no correction yet: the report
    corrects distillation's tests and the controls' as two tables)."""
    rows = []
    for _, cell in chosen.groupby(CELL, sort=False):
        base = cell[cell["family"] == "baseline"].iloc[0]
        base_grid = error_grid(records, base)
        for _, choice in cell[cell["family"] != "baseline"].iterrows():
            grid = error_grid(records, choice)
            rows.append({**{k: choice[k] for k in CELL + FAMILY}, "setting": setting_text(choice),
                         "baseline_setting": setting_text(base), "baseline_error": float(base_grid.mean().mean()),
                         "error": float(grid.to_numpy().mean()), **_row(difference(base_grid, grid))})
    return pd.DataFrame(rows)


def split_gains(gains: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Distillation's rows and the controls' rows, each Holm-corrected as its own table."""
    distill = gains["family"] == "distill"
    return with_holm(gains[distill]), with_holm(gains[~distill])


def best_control(cell: pd.DataFrame) -> pd.Series | None:
    """The control family (any method) whose chosen setting has the best mean validation accuracy."""
    controls = cell[cell["family"].isin(CONTROLS)]
    return None if controls.empty else controls.loc[controls["val_accuracy"].idxmax()]


def distillation_vs_controls(records: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """Per cell with controls and distillation method: chosen distillation minus the best control."""
    rows = []
    for _, cell in chosen.groupby(CELL, sort=False):
        control = best_control(cell)
        if control is None:
            continue
        control_grid = error_grid(records, control)
        for _, choice in cell[cell["family"] == "distill"].iterrows():
            rows.append({**{k: choice[k] for k in CELL}, "method": choice["method"], "setting": setting_text(choice),
                         "control": family_text(control["family"], control["method"]),
                         "control_setting": setting_text(control), "control_error": float(control_grid.mean().mean()),
                         "error": float(error_grid(records, choice).to_numpy().mean()),
                         **_row(difference(control_grid, error_grid(records, choice)))})
    return with_holm(pd.DataFrame(rows))


def quantum_vs_classical(records: pd.DataFrame, chosen: pd.DataFrame, pairs: dict[str, str]) -> pd.DataFrame:
    """Per (dataset, group, method): the quantum student's distillation gain minus its classical control's."""
    rows = []
    for (dataset, group), both in chosen.groupby(["dataset", "group"], sort=False):
        for quantum, classical in pairs.items():
            q, c = both[both["student"] == quantum], both[both["student"] == classical]
            if q.empty or c.empty:
                continue
            for method in q.loc[q["family"] == "distill", "method"]:
                gains = []
                for side in (q, c):
                    base = error_grid(records, side[side["family"] == "baseline"].iloc[0])
                    distill = error_grid(records, side[(side["family"] == "distill")
                                                       & (side["method"] == method)].iloc[0])
                    gains.append(base.to_numpy() - distill.loc[base.index].to_numpy())
                rows.append({"dataset": dataset, "group": group, "size": q["size"].iloc[0], "method": method,
                             "quantum": quantum, "quantum_gain": float(gains[0].mean()),
                             "classical_gain": float(gains[1].mean()), **_row(crossed_mean(gains[0] - gains[1]))})
    return with_holm(pd.DataFrame(rows))


# ---- the notebooks' regime ----

NOTEBOOK_CELL = ["regime", "dataset", "classes", "student", "teacher"]
SELECTIONS = {"on test (the notebooks' way)": "test_subset_error_chosen_on_test", "on validation": "test_subset_error"}


COLLAPSE_TIMES_CHANCE = 2  # a training never better than this many times chance on the notebooks' test images


def collapsed(records: pd.DataFrame) -> pd.Series:
    """Trainings that never learned: best-epoch accuracy on the notebooks' test images (chosen on them) under
    COLLAPSE_TIMES_CHANCE x chance. The notebooks' recipe does this in some seeds (pi * tanh saturates: every
    angle at +-pi, every bitstring at 1/2^Q; CHANGELOG #29), which a mean over seeds would hide."""
    n_classes = records["classes"].astype(str).str.count(",") + 1
    return (1 - records["test_subset_error_chosen_on_test"]) < COLLAPSE_TIMES_CHANCE / n_classes


def _baselines(records: pd.DataFrame, column: str, index: list[str]) -> pd.Series:
    return records[records["role"] == "baseline"].set_index(index)[column]


def notebooks_gains(records: pd.DataFrame) -> pd.DataFrame:
    """Per (regime, dataset, classes, student, teacher) and way of choosing the epoch: baseline - distilled
    error on the notebooks' test images, the teacher seed a grouping random effect."""
    rows = []
    for selection, column in SELECTIONS.items() if not records.empty else []:
        base = _baselines(records, column, ["regime", "dataset", "classes", "student", "seed"])
        distilled = records[records["role"] == "distilled"]
        for key, cell in distilled.groupby(NOTEBOOK_CELL, sort=False):
            b = base.loc[[(*key[:4], s) for s in cell["seed"]]].to_numpy() * 100
            d = cell[column].to_numpy() * 100
            base_collapsed = collapsed(records[records["role"] == "baseline"]).to_numpy()
            base_rows = records[records["role"] == "baseline"].set_index(NOTEBOOK_CELL[:4] + ["seed"]).index
            b_collapsed = pd.Series(base_collapsed, index=base_rows).loc[[(*key[:4], s) for s in cell["seed"]]]
            rows.append({**dict(zip(NOTEBOOK_CELL, key)), "selection": selection, "baseline_error": b.mean(),
                         "error": d.mean(), "seeds": len(cell), "baseline_collapsed": int(b_collapsed.sum()),
                         "collapsed": int(collapsed(cell).sum()),
                         **_row(grouped_mean(b - d, cell["teacher_seed"].to_numpy()))})
    return with_holm(pd.DataFrame(rows))


def notebooks_average(records: pd.DataFrame) -> pd.DataFrame:
    """The paper's claim: per regime, dataset and way of choosing, the gain averaged over every (classes,
    student, teacher) configuration, per student seed, then over seeds (teacher seed a grouping effect)."""
    rows = []
    for selection, column in SELECTIONS.items() if not records.empty else []:
        for (regime, dataset), data in records.groupby(["regime", "dataset"], sort=False):
            base = _baselines(data, column, ["classes", "student", "seed"])
            distilled = data[data["role"] == "distilled"]
            gain = 100 * (base.loc[list(zip(distilled["classes"], distilled["student"], distilled["seed"]))].to_numpy()
                          - distilled[column].to_numpy())
            per_seed = pd.DataFrame({"seed": distilled["seed"].to_numpy(), "gain": gain,
                                     "teacher_seed": distilled["teacher_seed"].to_numpy()}).groupby("seed").agg(
                gain=("gain", "mean"), teacher_seed=("teacher_seed", "first"))
            rows.append({"regime": regime, "dataset": dataset, "selection": selection,
                         **_row(grouped_mean(per_seed["gain"], per_seed["teacher_seed"]))})
    return with_holm(pd.DataFrame(rows))


def _printed_baseline(dataset: str, classes: str, qubits: int):
    """The notebook that ran this baseline (classes 0..n-1 only), or None."""
    n = len(classes.split(","))
    if classes != ",".join(map(str, range(n))):
        return None
    return next((r for r in NOTEBOOK_RUNS if (r.dataset, r.classes, r.qubits, r.teacher) == (dataset, n, qubits, "none")),
                None)


def notebooks_baselines(records: pd.DataFrame) -> pd.DataFrame:
    """Per (regime, dataset, classes, student): the baseline's best-epoch accuracy on the notebooks' test
    images (chosen on them, as the notebooks did), mean and standard deviation over student seeds, beside
    what that notebook printed (None where no notebook ran the configuration)."""
    rows = []
    base = records[records["role"] == "baseline"]
    for (regime, dataset, classes, student), data in base.groupby(["regime", "dataset", "classes", "student"],
                                                                   sort=False):
        accuracy = 100 * (1 - data["test_subset_error_chosen_on_test"])
        printed = _printed_baseline(dataset, str(classes), int(data["qubits"].iloc[0]))
        rows.append({"regime": regime, "dataset": dataset, "classes": classes, "student": student,
                     "shots": int(data["shots"].iloc[0]), "seeds": len(data), "collapsed": int(collapsed(data).sum()),
                     "accuracy": accuracy.mean(),
                     "accuracy_sd": accuracy.std(ddof=1) if len(data) > 1 else float("nan"),
                     "accuracy_min": accuracy.min(), "accuracy_max": accuracy.max(),
                     "notebook": printed.best if printed else None, "notebook_defect": printed.defect if printed else None})
    return pd.DataFrame(rows)


def paper_averages(datasets: list[str]) -> pd.DataFrame:
    """The paper's own average gains from its notebooks' printed accuracies, with and without the
    notebooks that have a defect (c2q.reporting.paper)."""
    rows = []
    for dataset in datasets:
        for without in (False, True):
            gain, n = paper_average(dataset, without)
            rows.append({"dataset": dataset, "runs": "without defective notebooks" if without else "every notebook",
                         "gain": gain, "comparisons": n})
    return pd.DataFrame(rows)


# ---- Markdown ----

def _interval(r) -> str:
    if isinstance(r.ci_low, float) and math.isnan(r.ci_low):
        return f"{r.gain:+.2f}"
    return f"{r.gain:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"


def _p(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:.3f}" if p >= 0.001 else "<0.001"


def _tested(r) -> list[str]:
    return [_interval(r), _p(r.p_value), _p(r.p_holm) + (" ✓" if r.survives else "")]


def _table(title: str, note: str, header: list[str], rows: list[list]) -> list[str]:
    lines = [f"\n## {title}\n", note + "\n", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


def _survivors(table: pd.DataFrame) -> str:
    up = int((table["survives"] & (table["gain"] > 0)).sum())
    down = int((table["survives"] & (table["gain"] < 0)).sum())
    return f"{len(table)} tests; after Holm's correction {up} positive and {down} negative survive at 5%."


TESTED = ["gain (pp) [95% CI]", "p", "p Holm"]


def _accuracy(r) -> str:
    spread = "" if math.isnan(r.accuracy_sd) else f" ± {r.accuracy_sd:.2f} [{r.accuracy_min:.2f}, {r.accuracy_max:.2f}]"
    return f"{r.accuracy:.2f}{spread}"


def _printed(r) -> str:
    if r.notebook is None or (isinstance(r.notebook, float) and math.isnan(r.notebook)):
        return "–"
    return f"{r.notebook:.2f}" + (f" ({r.notebook_defect})" if isinstance(r.notebook_defect, str) else "")


def markdown(t: dict[str, pd.DataFrame]) -> str:
    """The report's tables from the stage's tables `t`; a table with no tests (no notebooks' datasets, no
    classical control) is left out."""
    average, notebooks, baselines, paper = (t[k] for k in ("notebooks_average", "notebooks", "notebooks_baselines",
                                                           "paper_averages"))
    out = [] if average.empty else _table("The paper's claim: the notebooks' regime, with their student",
                 "Gain = baseline − distilled test error on the notebooks' test images (the first 150 per class), "
                 "averaged over every class subset, student and teacher, in points; the epoch chosen on those test "
                 "images as the notebooks did, or on validation. Regime `batched`: batch 32, exact probabilities; "
                 "`as_run`: batch 1, each notebook's shots in training (parameter shift) and at every evaluation. "
                 + _survivors(average),
                 ["regime", "dataset", "epoch chosen", *TESTED],
                 [[r.regime, r.dataset, r.selection, *_tested(r)] for r in average.itertuples()])
    out += [] if paper.empty else _table("The paper's own averages",
                 "Distilled − baseline best-epoch accuracy (points) from what the notebooks printed, averaged over "
                 "their (class subset, qubits, teacher) runs; without the runs whose notebook has a defect (the "
                 "distillation term computed from the teacher's output against the label, so no gradient reaches "
                 "the student; a softmax readout instead of sigmoid and 1 − x).",
                 ["dataset", "runs", "comparisons", "gain (pp)"],
                 [[r.dataset, r.runs, r.comparisons, "–" if math.isnan(r.gain) else f"{r.gain:+.2f}"]
                  for r in paper.itertuples()])
    out += [] if baselines.empty else _table("The notebooks' baselines against what the notebooks printed",
                 "Best-epoch accuracy (%) on the notebooks' test images, chosen on them as the notebooks did: mean ± "
                 "standard deviation [min, max] over student seeds; the notebook's printed value from its one "
                 f"unseeded run. Collapsed: seeds never better than {COLLAPSE_TIMES_CHANCE}x chance (every bitstring "
                 "at 1/2^Q from the first epoch on).",
                 ["regime", "dataset", "classes", "student", "shots", "seeds", "collapsed", "accuracy (%)",
                  "notebook (%)"],
                 [[r.regime, r.dataset, r.classes, r.student, r.shots or "exact", r.seeds, r.collapsed, _accuracy(r),
                   _printed(r)]
                  for r in baselines.itertuples()])
    out += [] if notebooks.empty else _table("The notebooks' regime, each configuration",
                  f"Error (%) on the notebooks' test images; collapsed: of the seeds, the baseline's and the distilled "
                  f"student's never better than {COLLAPSE_TIMES_CHANCE}x chance. " + _survivors(notebooks),
                  ["regime", "dataset", "classes", "student", "teacher", "epoch chosen", "baseline (%)",
                   "distilled (%)", "collapsed (baseline, distilled)", *TESTED],
                  [[r.regime, r.dataset, r.classes, r.student, r.teacher, r.selection, f"{r.baseline_error:.2f}",
                    f"{r.error:.2f}", f"{r.baseline_collapsed}, {r.collapsed} of {r.seeds}", *_tested(r)]
                   for r in notebooks.itertuples()])
    distill, controls, versus, quantum = (t[k] for k in ("distillation", "controls", "versus_controls",
                                                         "quantum_vs_classical"))
    out += _table("Distillation against the tuned baseline, by training size",
                  "Both chosen on validation from as many settings. " + _survivors(distill),
                  ["dataset", "per class", "student", "method", "baseline (%) [setting]", "distilled (%) [setting]",
                   *TESTED],
                  [[r.dataset, r.group, r.student, r.method, f"{r.baseline_error:.2f} [{r.baseline_setting}]",
                    f"{r.error:.2f} [{r.setting}]", *_tested(r)] for r in distill.itertuples()])
    out += _table("Distillation minus the best control",
                  "Gain = the best control's test error (the control family, any method, chosen on validation) − "
                  "distillation's: above 0, the teacher's knowledge helps beyond a softer target. "
                  + _survivors(versus),
                  ["dataset", "per class", "student", "method", "best control [setting]", "control (%)",
                   "distilled (%)", *TESTED],
                  [[r.dataset, r.group, r.student, r.method, f"{r.control} [{r.control_setting}]",
                    f"{r.control_error:.2f}", f"{r.error:.2f}", *_tested(r)] for r in versus.itertuples()])
    out += _table("Every control against the tuned baseline",
                  "Each chosen on validation from as many settings as distillation. " + _survivors(controls),
                  ["dataset", "per class", "student", "control", "setting", "error (%)", *TESTED],
                  [[r.dataset, r.group, r.student, family_text(r.family, r.method), r.setting, f"{r.error:.2f}",
                    *_tested(r)] for r in controls.itertuples()])
    out += [] if quantum.empty else _table("Quantum student against its classical control",
                  "Gain = the quantum student's distillation gain − the classical control's (each against its own "
                  "tuned baseline). " + _survivors(quantum),
                  ["dataset", "per class", "method", "quantum gain", "classical gain", "difference [95% CI]", "p",
                   "p Holm"],
                  [[r.dataset, r.group, r.method, f"{r.quantum_gain:+.2f}", f"{r.classical_gain:+.2f}", *_tested(r)]
                   for r in quantum.itertuples()])
    return "\n".join(out).lstrip("\n") + "\n"


# ---- figures ----

def plot_gain_vs_size(gains: pd.DataFrame, versus: pd.DataFrame, samples: dict, path: Path) -> None:
    """Gain vs training images per class (log axis), a panel per (dataset, student): distillation
    against the tuned baseline per method, and against the best control; bands are 95% intervals."""
    plt = pyplot()
    rows = gains[~gains["group"].str.contains("whole-val")]
    panels = list(dict.fromkeys(zip(rows["dataset"], rows["student"])))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.9), squeeze=False, sharey=True)
    for ax, (dataset, student) in zip(axes.flat, panels):
        lines = []
        for method in dict.fromkeys(rows.loc[rows["family"] == "distill", "method"]):
            of = rows[(rows["dataset"] == dataset) & (rows["student"] == student) & (rows["family"] == "distill")
                      & (rows["method"] == method)]
            lines.append((f"{method} − tuned baseline", of))
            vs = versus[(versus["dataset"] == dataset) & (versus["student"] == student) & (versus["method"] == method)
                        & ~versus["group"].str.contains("whole-val")]
            if not vs.empty:
                lines.append((f"{method} − best control", vs))
        for label, of in lines:
            x = np.array([samples[(dataset, g)] for g in of["group"]])
            order = np.argsort(x)
            x, of = x[order], of.iloc[order]
            style = {"linestyle": "--"} if "control" in label else {}
            ax.plot(x, of["gain"], marker="o", label=label, **style)
            ax.fill_between(x, of["ci_low"].fillna(of["gain"]), of["ci_high"].fillna(of["gain"]), alpha=0.12,
                            color=ax.lines[-1].get_color())
        ax.axhline(0, color="gray", linewidth=0.8)
        ax.set_xscale("log")
        ticks = sorted({samples[(dataset, g)] for g in rows.loc[rows["dataset"] == dataset, "group"]})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_title(f"{dataset} {student}", fontsize=10)
        ax.set_xlabel("training images per class (log)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("gain in test error (pp)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Distillation's gain vs training size (chosen on validation; 95% intervals, teacher seed random)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_settings(records: pd.DataFrame, chosen: pd.DataFrame, student: str, path: Path) -> None:
    """Mean test-error gain of every distillation setting over the tuned baseline, a panel per (dataset,
    method), rows the training sizes: which settings help, before any choice."""
    plt = pyplot()
    data = _keyed(records[(records["student"] == student) & ~records["group"].str.contains("whole-val")])
    distill = data[data["family"] == "distill"]
    panels = list(dict.fromkeys(zip(distill["dataset"], distill["method"])))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(8.0, 3.9 * len(panels)), 3.6), squeeze=False,
                             constrained_layout=True)
    limit, image = 0.5, None
    tables = []
    for dataset, method in panels:
        cells = chosen[(chosen["dataset"] == dataset) & (chosen["student"] == student) & (chosen["family"] == "baseline")
                       & ~chosen["group"].str.contains("whole-val")]
        base = {c["group"]: error_grid(records, c).mean().mean() for _, c in cells.iterrows()}
        of = distill[(distill["dataset"] == dataset) & (distill["method"] == method)].copy()
        of["gain"] = of["group"].map(base) - 100 * of["test_error"]
        of["setting"] = [f"T{t:g} α{a:g}" for t, a in zip(of["temperature"], of["alpha"])]
        table = of.pivot_table(index="group", columns="setting", values="gain", aggfunc="mean", sort=False)
        tables.append(table)
        limit = max(limit, float(np.nanmax(np.abs(table.to_numpy()))))
    for ax, (dataset, method), table in zip(axes.flat, panels, tables):
        image = ax.imshow(table.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=45, fontsize=7)
        ax.set_yticks(range(table.shape[0]), table.index)
        for i in range(table.shape[0]):
            for j in range(table.shape[1]):
                ax.text(j, i, f"{table.iat[i, j]:+.1f}", ha="center", va="center", fontsize=7)
        ax.set_title(f"{dataset} {method}", fontsize=9)
        ax.set_ylabel("per class")
    fig.colorbar(image, ax=axes.ravel().tolist(), label="gain over tuned baseline (pp)", shrink=0.7)
    fig.suptitle(f"{student}: every distillation setting (mean over seeds and teacher seeds)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
