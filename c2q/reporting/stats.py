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
