"""The students off the simulator: exact, finite-shot and noisy errors side by side, and how noise hurts.

`records` has one row per quantum student (see stages/aggregate.py): its
variant, role, teacher, seed, `test_error` on the whole test set (student
stage), and from stage evaluate, `test_error_shots` on the whole test set and, on the noisy
subset: `subset_exact`, `subset_device`, `subset_noisy` (the device's, or the
depolarising model's at strength 1: `noise`), `subset_mitigated` (the same with
readout errors mitigated), `images`, `shots`, `device`,
`depth`, `two_qubit_gates` (compiled to the device), `strengths` and
`sweep` (errors at each depolarising strength); a `-chain` student also `model_images`, `model_exact`,
`model_noisy`, `model_mitigated` (its evaluation under the device's calibrated noise by density matrix on
many images). Errors are fractions here, percent in the tables.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from c2q.reporting.error_table import mean_std
from c2q.reporting.figures import pyplot
from c2q.reporting.stats import paired_gain, spread

STUDENT = ["dataset", "student"]
ROW = STUDENT + ["role", "teacher"]


def _label(role: str, teacher: str) -> str:
    return "baseline" if role == "baseline" else f"distilled ({teacher})"


def _pm(values) -> tuple[float, float]:
    s = spread(np.asarray(values, dtype=float) * 100)
    return s.mean, s.std


def subset_half_width(error: float, images: int) -> float:
    """Half the 95% interval (normal approximation) of an error measured on `images` test images, in points."""
    return 100 * 1.96 * math.sqrt(max(error * (1 - error), 0) / images)


def hardware_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, student, role, teacher): mean and std over seeds of every error, compiled size."""
    rows = []
    for key, group in records.groupby(ROW, sort=False):
        exact, exact_std = _pm(group["test_error"])
        shots, shots_std = _pm(group["test_error_shots"])
        noisy, noisy_std = _pm(group["subset_noisy"])
        mitigated, mitigated_std = _pm(group["subset_mitigated"])
        subset_exact, _ = _pm(group["subset_exact"])
        images = int(group["images"].iloc[0])
        rows.append({
            **dict(zip(ROW, key)), "seeds": len(group),
            "exact_error": exact, "exact_error_std": exact_std,
            "shots": int(group["shots"].iloc[0]), "shots_error": shots, "shots_error_std": shots_std,
            "noise": group["noise"].iloc[0], "images": images,
            "subset_exact_error": subset_exact,
            "noisy_error": noisy, "noisy_error_std": noisy_std,
            "noisy_subset_half_width": subset_half_width(noisy / 100, images),
            "mitigated_error": mitigated, "mitigated_error_std": mitigated_std,
            "device": group["device"].iloc[0],
            "depth": float(group["depth"].mean()), "two_qubit_gates": float(group["two_qubit_gates"].mean()),
            **_model_columns(group),
        })
    return pd.DataFrame(rows)


def _model_columns(group: pd.DataFrame) -> dict:
    """A -chain student's errors under the calibrated model (mean, std over seeds, and the half-width of the
    interval its image count implies); NaN for the others."""
    if "model_images" not in group or group["model_images"].isna().any():
        return {}
    out = {"model_images": int(group["model_images"].iloc[0])}
    for kind in ("exact", "noisy", "mitigated"):
        out[f"model_{kind}_error"], out[f"model_{kind}_error_std"] = _pm(group[f"model_{kind}"])
    out["model_half_width"] = subset_half_width(out["model_noisy_error"] / 100, out["model_images"])
    return out


def noise_gains(records: pd.DataFrame) -> pd.DataFrame:
    """Does distillation change how much noise hurts? Per (dataset, student, teacher) and noise level, the
    paired difference of degradations, seed by seed: (baseline noisy - exact) - (distilled noisy - exact) on
    the same images, in points; positive: the distilled student loses less to noise."""
    rows = []
    for (dataset, student), group in records.groupby(STUDENT, sort=False):
        base = group[group["role"] == "baseline"].set_index("seed")
        levels = [("device", base["device"].iloc[0], None)] + [
            ("depolarising", f"x{s:g}", i) for i, s in enumerate(base["strengths"].iloc[0]) if s > 0]
        for teacher, dist in group[group["role"] == "distilled"].groupby("teacher", sort=False):
            dist = dist.set_index("seed")
            seeds = sorted(set(base.index) & set(dist.index))
            for model, level, i in levels:
                b, d = (_noisy(frame.loc[seeds], i) - frame.loc[seeds, "subset_exact"] for frame in (base, dist))
                g = paired_gain(b.values * 100, d.values * 100)
                rows.append({"dataset": dataset, "student": student, "teacher": teacher, "model": model,
                             "level": level, "baseline_degradation": b.mean() * 100,
                             "distilled_degradation": d.mean() * 100, "difference": g.mean,
                             "ci_low": g.ci_low, "ci_high": g.ci_high, "p_value": g.p_value, "seeds": g.n})
    return pd.DataFrame(rows)


def _noisy(frame: pd.DataFrame, strength_index: int | None) -> pd.Series:
    if strength_index is None:
        return frame["subset_device"]
    return frame["sweep"].map(lambda errors: errors[strength_index])


def _signed(value: float) -> str:
    return "–" if value != value else f"{value:+.2f}"


def to_markdown(table: pd.DataFrame, gains: pd.DataFrame) -> str:
    """The off-simulator section of metrics/error_table.md."""
    if table.empty:
        return ""
    first = table.iloc[0]
    lines = [f"Off the simulator: test error % (mean ± std over seeds). Exact and {first['shots']:,}-shot on the "
             f"whole test set; noisy ({first['noise']}, {first['shots']:,} shots) on {first['images']} stratified "
             f"test images, the same for every student (± the interval that size implies), and with its readout "
             f"errors mitigated (calibration matrices); depth and two-qubit gates of the circuit compiled to "
             f"{first['device']}.", "",
             "| dataset | student | trained | exact % | shots % | noisy % | noisy subset ± | mitigated % | depth | "
             "2q gates |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table.to_dict("records"):
        errors = [mean_std(r[f"{kind}_error"], r[f"{kind}_error_std"]) for kind in ("exact", "shots", "noisy")]
        lines.append(f"| {r['dataset']} | {r['student']} | {_label(r['role'], r['teacher'])} | "
                     f"{' | '.join(errors)} | {r['noisy_subset_half_width']:.1f} | "
                     f"{mean_std(r['mitigated_error'], r['mitigated_error_std'])} | "
                     f"{r['depth']:.0f} | {r['two_qubit_gates']:.0f} |")
    lines += _model_markdown(table)
    if gains.empty:
        return "\n".join(lines) + "\n"
    lines += ["", "Does distillation change how noise hurts? Degradation = noisy − exact error on the same images "
              "(points); difference = baseline's − distilled's, seed by seed, with its 95% t-interval (positive: "
              "the distilled student loses less).", "",
              "| dataset | student | teacher | noise | baseline degradation | distilled degradation | "
              "difference [95% CI] | p |", "|---|---|---|---|---:|---:|---:|---:|"]
    for g in gains.itertuples():
        ci = "" if g.ci_low != g.ci_low else f" [{g.ci_low:+.2f}, {g.ci_high:+.2f}]"
        p = "–" if g.p_value != g.p_value else f"{g.p_value:.3f}"
        lines.append(f"| {g.dataset} | {g.student} | {g.teacher} | {g.model} {g.level} | "
                     f"{_signed(g.baseline_degradation)} | {_signed(g.distilled_degradation)} | "
                     f"{_signed(g.difference)}{ci} | {p} |")
    return "\n".join(lines) + "\n"


def _model_markdown(table: pd.DataFrame) -> list[str]:
    """The -chain students under the device's calibrated noise (c2q.offsim.density), on many test images."""
    if "model_images" not in table or table["model_images"].isna().all():
        return []
    chain = table[table["model_images"].notna()]
    first = chain.iloc[0]
    lines = ["", f"Students laid on a line of {first['device']}'s qubits (-chain; -nat: trained under its noise), "
             f"under its calibrated noise (density matrix, {first['shots']:,} shots) on {int(first['model_images']):,} "
             f"stratified test images: test error % (mean ± std over seeds; ± the 95% interval that size implies).",
             "", "| dataset | student | trained | exact % | noisy % | ± | mitigated % | depth | 2q gates |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in chain.to_dict("records"):
        errors = [mean_std(r[f"model_{kind}_error"], r[f"model_{kind}_error_std"]) for kind in ("exact", "noisy")]
        lines.append(f"| {r['dataset']} | {r['student']} | {_label(r['role'], r['teacher'])} | {' | '.join(errors)} | "
                     f"{r['model_half_width']:.1f} | {mean_std(r['model_mitigated_error'], r['model_mitigated_error_std'])} | "
                     f"{r['depth']:.0f} | {r['two_qubit_gates']:.0f} |")
    return lines


def plot_error_vs_noise(records: pd.DataFrame, path: Path) -> None:
    """Test error vs depolarising strength, baseline vs each teacher's distilled students (mean ± std)."""
    plt = pyplot()
    panels = list(records.groupby(STUDENT, sort=False))
    if not panels:  # only classical controls: nothing ran on a circuit
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.text(0.5, 0.5, "no quantum students in params.yaml", ha="center", va="center")
        ax.set_axis_off()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.8 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, ((dataset, student), group) in zip(axes.flat, panels):
        strengths = group["strengths"].iloc[0]
        for (role, teacher), runs in group.groupby(["role", "teacher"], sort=False):
            errors = np.stack(runs["sweep"].map(np.asarray).values) * 100  # (seeds, strengths)
            std = errors.std(0, ddof=1) if len(errors) > 1 else np.zeros(len(strengths))
            ax.errorbar(strengths, errors.mean(0), yerr=std, marker="o", capsize=3, label=_label(role, teacher),
                        linestyle="-" if role == "baseline" else "--")
        ax.set_title(f"{dataset} {student}", fontsize=10)
        ax.set_xlabel("depolarising strength (x p1, p2, readout)")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("test error (%)")
    axes.flat[len(panels) - 1].legend(fontsize=8)
    fig.suptitle(f"Error under depolarising noise ({records['images'].iloc[0]} test images, "
                 f"{records['shots'].iloc[0]:,} shots; mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
