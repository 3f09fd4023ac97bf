"""Statistics over seeds: mean and spread, and the paired comparison of baseline and distilled students.

Baseline and distilled students of one seed share their initial weights and
batch order, so their errors are paired: the gain of seed s is
baseline_error[s] - distilled_error[s] (positive = distillation helped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float  # sample standard deviation (ddof=1); NaN for a single value
    n: int


def spread(values) -> Spread:
    x = np.asarray(values, dtype=float)
    return Spread(float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else math.nan, len(x))


@dataclass(frozen=True)
class PairedGain:
    """baseline - distilled over seeds: mean, 95% t-interval, paired t-test p-value, wins."""

    mean: float
    std: float
    ci_low: float
    ci_high: float
    p_value: float  # two-sided paired t-test; NaN with fewer than 2 seeds or identical differences
    wins: int  # seeds where the distilled student's error is strictly lower
    n: int


def paired_gain(baseline, distilled, confidence: float = 0.95) -> PairedGain:
    b, d = np.asarray(baseline, dtype=float), np.asarray(distilled, dtype=float)
    if b.shape != d.shape or b.ndim != 1 or len(b) == 0:
        raise ValueError(f"need two equally long, non-empty lists of paired errors, got {b.shape} and {d.shape}")
    diff = b - d
    s = spread(diff)
    wins = int(np.sum(d < b))
    if s.n < 2 or s.std <= 1e-12 * max(1.0, abs(s.mean)):
        # No spread to test against: a single seed, or every seed moved by exactly the same amount.
        return PairedGain(s.mean, s.std, math.nan, math.nan, math.nan, wins, s.n)
    half = stats.t.ppf(0.5 + confidence / 2, df=s.n - 1) * s.std / math.sqrt(s.n)
    p = float(stats.ttest_rel(b, d).pvalue)
    return PairedGain(s.mean, s.std, s.mean - half, s.mean + half, p, wins, s.n)


# ---- a mean over student seeds and teacher seeds, each a random effect ----

@dataclass(frozen=True)
class Estimate:
    """A mean with its standard error, Satterthwaite degrees of freedom, 95% t-interval and two-sided p."""

    mean: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int


def _estimate(values: np.ndarray, variance: float, df: float, confidence: float = 0.95) -> Estimate:
    mean, n = float(values.mean()), values.size
    if not variance > 1e-24 or not df > 0:  # no spread: nothing to test against
        return Estimate(mean, 0.0, math.nan, math.nan, math.nan, math.nan, n)
    se, df = math.sqrt(variance), max(1.0, df)
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    return Estimate(mean, se, df, mean - half, mean + half, float(2 * stats.t.sf(abs(mean) / se, df)), n)


def _satterthwaite(terms: list[tuple[float, float, int]]) -> tuple[float, float]:
    """Variance sum(a * ms) of a mean from mean squares (a, ms, df) and its degrees of freedom."""
    variance = sum(a * ms for a, ms, _ in terms)
    spread = sum((a * ms) ** 2 / df for a, ms, df in terms if df > 0 and a)
    return variance, (variance**2 / spread if spread > 0 else math.nan)


def crossed_mean(grid) -> Estimate:
    """The mean of a (student seeds x teacher seeds) grid of paired differences, with student seed,
    teacher seed and their interaction as random effects (two-way crossed random-effects model,
    ANOVA estimates of the variance components, each kept at 0 or above, Satterthwaite df). One column
    (a comparison that no teacher seed enters) is the paired t-test over student seeds."""
    y = np.asarray(grid, dtype=float)
    s, t = y.shape
    n = s * t
    if s < 2:
        return _estimate(y, math.nan, math.nan)
    if t == 1:
        return _estimate(y, float(y.var(ddof=1)) / s, s - 1)
    rows, cols, mean = y.mean(1), y.mean(0), y.mean()
    ms_s = t * ((rows - mean) ** 2).sum() / (s - 1)
    ms_t = s * ((cols - mean) ** 2).sum() / (t - 1)
    ms_e = ((y - rows[:, None] - cols[None, :] + mean) ** 2).sum() / ((s - 1) * (t - 1))
    use_s, use_t = ms_s > ms_e, ms_t > ms_e
    variance, df = _satterthwaite([(use_s / n, ms_s, s - 1), (use_t / n, ms_t, t - 1),
                                   ((1 - use_s - use_t) / n, ms_e, (s - 1) * (t - 1))])
    return _estimate(y, variance, df)


def grouped_mean(values, groups) -> Estimate:
    """The mean of paired differences whose units fall in groups (a teacher seed shared by several
    student seeds), the group a random effect: one-way random-effects model, ANOVA estimates kept at
    0 or above, Satterthwaite df. One unit per group is the plain t-test."""
    y, g = np.asarray(values, dtype=float), np.asarray(groups)
    labels = list(dict.fromkeys(g.tolist()))
    sizes = np.array([(g == k).sum() for k in labels])
    n, k = len(y), len(labels)
    if k == n or k < 2:
        return _estimate(y, float(y.var(ddof=1)) / n if n > 1 else math.nan, n - 1)
    means = np.array([y[g == label].mean() for label in labels])
    ms_b = (sizes * (means - y.mean()) ** 2).sum() / (k - 1)
    ms_w = sum(((y[g == label] - m) ** 2).sum() for label, m in zip(labels, means)) / (n - k)
    n0 = (n - (sizes**2).sum() / n) / (k - 1)
    c = (sizes**2).sum() / n**2  # Var(mean) = c * var_group + var_unit / n
    use = ms_b > ms_w
    variance, df = _satterthwaite([(use * c / n0, ms_b, k - 1), (1 / n - use * c / n0, ms_w, n - k)])
    return _estimate(y, variance, df)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out
