"""The students off the simulator: exact, finite-shot and noisy errors side by side, and how noise hurts.

`records` has one row per quantum student (see stages/aggregate.py): its
variant, role, teacher, seed, `test_error` on the whole test set (student
stage), and from stage evaluate, `test_error_shots` on the whole test set and, on the noisy
subset: `subset_exact`, `subset_device`, `subset_noisy` (the device's, or the
depolarising model's at strength 1: `noise`), `subset_mitigated` (the same with
readout errors mitigated), `images`, `shots`, `device`,
`depth`, `two_qubit_gates` (compiled to the device), `strengths` and
`sweep` (errors at each depolarising strength); a `-chain` or small student also `model_kind`,
`model_images`, `model_exact`, `model_noisy`, `model_mitigated` (its evaluation on many images by batched
density matrix: `calibrated`, a -chain student's calibrated channels, or `device`, the compiled circuit
under the device's whole noise model). Errors are fractions here, percent in the tables.
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
    """A -chain or small student's errors on many images (mean, std over seeds, and the half-width of the
    interval its image count implies); NaN for the others."""
    if "model_images" not in group or group["model_images"].isna().any():
        return {}
    out = {"model_kind": group["model_kind"].iloc[0], "model_images": int(group["model_images"].iloc[0])}
    for kind in ("exact", "noisy", "mitigated"):
        out[f"model_{kind}_error"], out[f"model_{kind}_error_std"] = _pm(group[f"model_{kind}"])
    out["model_half_width"] = subset_half_width(out["model_noisy_error"] / 100, out["model_images"])
    return out


def noise_gains(records: pd.DataFrame) -> pd.DataFrame:
    """Does distillation help under noise, and does it change how much noise hurts? Per (dataset, student,
    teacher) and noise level, seed by seed on the same images, in points: the gain under noise, baseline
    noisy - distilled noisy error (positive: distillation helped), and the difference of degradations,
    (baseline noisy - exact) - (distilled noisy - exact) (positive: the distilled student loses less to
    noise). Levels: the device (aer, the noisy subset), each depolarising strength, and for a -chain or small
    student the batched density matrix on its many images (`model_kind`)."""
    rows = []
    for (dataset, student), group in records.groupby(STUDENT, sort=False):
        base = group[group["role"] == "baseline"].set_index("seed")
        levels = [("device", base["device"].iloc[0], "subset_device", "subset_exact")] + [
            ("depolarising", f"x{s:g}", i, "subset_exact") for i, s in enumerate(base["strengths"].iloc[0]) if s > 0]
        if "model_images" in base and base["model_images"].notna().all():
            levels.append((base["model_kind"].iloc[0], f"{int(base['model_images'].iloc[0])} images", "model_noisy",
                           "model_exact"))
        for teacher, dist in group[group["role"] == "distilled"].groupby("teacher", sort=False):
            dist = dist.set_index("seed")
            seeds = sorted(set(base.index) & set(dist.index))
            for model, level, noisy, exact in levels:
                (bn, be), (dn, de) = ((_noisy(f.loc[seeds], noisy), f.loc[seeds, exact]) for f in (base, dist))
                g = paired_gain((bn - be).values * 100, (dn - de).values * 100)
                gain = paired_gain(bn.values * 100, dn.values * 100)
                rows.append({"dataset": dataset, "student": student, "teacher": teacher, "model": model,
                             "level": level, "baseline_noisy": bn.mean() * 100, "distilled_noisy": dn.mean() * 100,
                             "gain": gain.mean, "gain_ci_low": gain.ci_low, "gain_ci_high": gain.ci_high,
                             "gain_p_value": gain.p_value,
                             "baseline_degradation": (bn - be).mean() * 100,
                             "distilled_degradation": (dn - de).mean() * 100, "difference": g.mean,
                             "ci_low": g.ci_low, "ci_high": g.ci_high, "p_value": g.p_value, "seeds": g.n})
    return pd.DataFrame(rows)


def _noisy(frame: pd.DataFrame, column) -> pd.Series:
    """A noisy error column, or (an int) the depolarising sweep's error at that strength's index."""
    if isinstance(column, str):
        return frame[column]
    return frame["sweep"].map(lambda errors: errors[column])


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
    lines += ["", "Does distillation help under noise, and does it change how noise hurts? Gain under noise = "
              "baseline's − distilled's noisy error; degradation = noisy − exact error on the same images; difference "
              "= baseline's degradation − distilled's; seed by seed, in points, with 95% t-intervals (positive: "
              "distillation helped, or the distilled student loses less).", "",
              "| dataset | student | teacher | noise | gain under noise [95% CI] | p | baseline degradation | "
              "distilled degradation | difference [95% CI] | p |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for g in gains.itertuples():
        lines.append(f"| {g.dataset} | {g.student} | {g.teacher} | {g.model} {g.level} | "
                     f"{_signed(g.gain)}{_ci(g.gain_ci_low, g.gain_ci_high)} | {_p(g.gain_p_value)} | "
                     f"{_signed(g.baseline_degradation)} | {_signed(g.distilled_degradation)} | "
                     f"{_signed(g.difference)}{_ci(g.ci_low, g.ci_high)} | {_p(g.p_value)} |")
    return "\n".join(lines) + "\n"


def _ci(low: float, high: float) -> str:
    return "" if low != low else f" [{low:+.2f}, {high:+.2f}]"


def _p(p: float) -> str:
    return "–" if p != p else f"{p:.3f}"


def _model_markdown(table: pd.DataFrame) -> list[str]:
    """The students evaluated on many test images by batched density matrix: -chain students under the
    device's calibrated channels (c2q.offsim.density), small ones as their compiled circuit under its whole
    noise model (c2q.offsim.compiled_density)."""
    if "model_images" not in table or table["model_images"].isna().all():
        return []
    many = table[table["model_images"].notna()]
    first = many.iloc[0]
    lines = ["", f"On {int(first['model_images']):,} stratified test images under {first['device']}'s noise (batched "
             f"density matrix, {first['shots']:,} shots): test error % (mean ± std over seeds; ± the 95% interval "
             f"that size implies). Noise model `calibrated`: a student laid on a line of the device's qubits "
             f"(-chain; -nat: trained under its noise), under the device's calibrated channels on its gates; "
             f"`device`: the circuit compiled to the device, under its whole noise model (aer's).",
             "", "| dataset | student | trained | noise model | exact % | noisy % | ± | mitigated % | depth | "
             "2q gates |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in many.to_dict("records"):
        errors = [mean_std(r[f"model_{kind}_error"], r[f"model_{kind}_error_std"]) for kind in ("exact", "noisy")]
        lines.append(f"| {r['dataset']} | {r['student']} | {_label(r['role'], r['teacher'])} | {r['model_kind']} | "
                     f"{' | '.join(errors)} | "
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


def device_rows(table: pd.DataFrame, role: str | None = None) -> list[dict]:
    """One student per row on the device, mean over seeds: exact, noisy and mitigated error on the same
    images (on the density matrix's many images where a student has them, else on aer's subset), the
    half-width of the 95% interval that image count implies, and the compiled circuit's two-qubit gates."""
    out = []
    for r in (table if role is None else table[table["role"] == role]).to_dict("records"):
        many = "model_images" in r and r["model_images"] == r["model_images"]
        exact, noisy, mitigated = ((r[f"model_{k}_error"] for k in ("exact", "noisy", "mitigated")) if many else
                                   (r["subset_exact_error"], r["noisy_error"], r["mitigated_error"]))
        images = int(r["model_images"] if many else r["images"])
        out.append({"dataset": r["dataset"], "student": r["student"], "role": r["role"], "teacher": r["teacher"],
                    "many": many, "exact": exact, "noisy": noisy,
                    "mitigated": mitigated, "images": images, "half_width": subset_half_width(noisy / 100, images),
                    "two_qubit_gates": r["two_qubit_gates"]})
    return out


def plot_device_errors(table: pd.DataFrame, device_name: str, path: Path) -> None:
    """Per dataset, every student's exact, noisy and mitigated test error on the device (mean over seeds,
    `device_rows`), with the 95% interval its image count implies."""
    plt = pyplot()
    rows = device_rows(table)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    panels = max(len(datasets), 1)
    width = max(8, 0.9 * len(rows) / panels + 3)
    fig, axes = plt.subplots(panels, 1, figsize=(width, 3.6 * panels), squeeze=False)
    if not datasets:
        axes[0, 0].text(0.5, 0.5, "no quantum students in params.yaml", ha="center", va="center")
        axes[0, 0].set_axis_off()
    for ax, dataset in zip(axes[:, 0], datasets):
        mine = [r for r in rows if r["dataset"] == dataset]
        x = np.arange(len(mine))
        for offset, kind, colour in ((-0.27, "exact", "tab:blue"), (0, "noisy", "tab:red"),
                                     (0.27, "mitigated", "tab:green")):
            values = [r[kind] for r in mine]
            widths = [subset_half_width(v / 100, r["images"]) for v, r in zip(values, mine)]
            below = [min(w, v) for w, v in zip(widths, values)]  # an error is never below 0
            ax.bar(x + offset, values, 0.27, yerr=[below, widths], capsize=2, color=colour, label=kind)
        ax.set_xticks(x, [f"{r['student']}\n{_label(r['role'], r['teacher'])}" for r in mine], rotation=60,
                      ha="right", fontsize=7)
        ax.set_ylabel("test error (%)")
        ax.set_title(f"{dataset} on {device_name}: students on {_images(mine, True)} images (batched density "
                     f"matrix), the others on {_images(mine, False)} (aer)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _images(rows: list[dict], many: bool) -> str:
    return "/".join(f"{c:,}" for c in sorted({r["images"] for r in rows if r["many"] == many})) or "no"
