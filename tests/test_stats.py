import math
import statistics

import pytest

import numpy as np

from c2q.reporting.stats import crossed_mean, grouped_mean, holm, paired_gain, spread

T_975_DF2 = 4.302652729911275  # Student's t, 97.5% quantile, 2 degrees of freedom (from tables)
T_975_DF4 = 2.7764451051977987


def test_spread_is_mean_and_sample_std():
    s = spread([0.10, 0.12, 0.17])
    assert s.mean == pytest.approx(0.13) and s.std == pytest.approx(statistics.stdev([0.10, 0.12, 0.17]))
    assert s.n == 3 and math.isnan(spread([0.2]).std)


def test_paired_gain_matches_a_hand_computation():
    baseline, distilled = [0.20, 0.25, 0.22], [0.18, 0.21, 0.23]
    diffs = [b - d for b, d in zip(baseline, distilled)]  # 0.02, 0.04, -0.01
    mean, sd = sum(diffs) / 3, statistics.stdev(diffs)
    t = mean / (sd / math.sqrt(3))
    # two-sided p of a t statistic with 2 degrees of freedom, in closed form
    p = 1 - abs(t) / math.sqrt(2 + t * t)
    g = paired_gain(baseline, distilled)
    assert g.mean == pytest.approx(mean) and g.std == pytest.approx(sd)
    assert g.ci_low == pytest.approx(mean - T_975_DF2 * sd / math.sqrt(3))
    assert g.ci_high == pytest.approx(mean + T_975_DF2 * sd / math.sqrt(3))
    assert g.p_value == pytest.approx(p, rel=1e-9)
    assert g.wins == 2 and g.n == 3


def test_paired_not_unpaired():
    """Large seed-to-seed spread but a constant-ish paired shift: the paired test sees it."""
    baseline = [0.10, 0.30, 0.50, 0.20, 0.40]
    distilled = [b - 0.02 + e for b, e in zip(baseline, [0.001, -0.001, 0.002, 0.0, -0.002])]
    g = paired_gain(baseline, distilled)
    assert g.wins == 5 and g.p_value < 1e-4
    half = T_975_DF4 * g.std / math.sqrt(5)
    assert (g.ci_low, g.ci_high) == pytest.approx((g.mean - half, g.mean + half))


def test_a_single_seed_gives_no_p_value_or_interval():
    g = paired_gain([0.2], [0.1])
    assert g.mean == pytest.approx(0.1) and g.wins == 1 and g.n == 1
    assert math.isnan(g.p_value) and math.isnan(g.ci_low) and math.isnan(g.std)


def test_mismatched_pairs_are_rejected():
    with pytest.raises(ValueError, match="paired"):
        paired_gain([0.1, 0.2], [0.1])


# ---- student seed and teacher seed as random effects; Holm ----

def test_crossed_mean_of_one_column_is_the_paired_t_test():
    gains = np.array([[1.0], [2.5], [0.5], [1.5], [3.0]])
    crossed, paired = crossed_mean(gains), paired_gain(gains[:, 0], np.zeros(5))
    assert crossed.mean == pytest.approx(paired.mean) and crossed.p_value == pytest.approx(paired.p_value)
    assert (crossed.ci_low, crossed.ci_high) == (pytest.approx(paired.ci_low), pytest.approx(paired.ci_high))


def test_crossed_mean_widens_with_a_teacher_seed_effect():
    """The same student-seed noise, once with a shift per teacher seed: the interval must see it, and
    counting the 15 pairs as independent would not."""
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.3, (5, 3))
    flat, shifted = crossed_mean(1 + noise), crossed_mean(1 + noise + np.array([-2.0, 0.5, 2.0]))
    naive = paired_gain((1 + noise + np.array([-2.0, 0.5, 2.0])).ravel(), np.zeros(15))
    assert shifted.se > 3 * flat.se and shifted.df < 3
    assert shifted.ci_high - shifted.ci_low > 3 * (naive.ci_high - naive.ci_low)


def test_crossed_mean_variance_matches_the_balanced_anova_formula():
    y = np.array([[1.0, 2.0, 4.0], [2.0, 2.5, 5.0], [0.0, 1.5, 3.0], [1.0, 3.0, 4.5]])
    s, t = y.shape
    ms_s = t * y.mean(1).var(ddof=1)
    ms_t = s * y.mean(0).var(ddof=1)
    resid = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
    ms_e = (resid**2).sum() / ((s - 1) * (t - 1))
    assert ms_s > ms_e and ms_t > ms_e
    assert crossed_mean(y).se ** 2 == pytest.approx((ms_s + ms_t - ms_e) / (s * t))


def test_grouped_mean_counts_groups_not_units():
    rng = np.random.default_rng(2)
    groups = np.arange(12) % 3
    values = 1 + rng.normal(0, 0.1, 12) + np.array([-1.5, 0.0, 1.5])[groups]
    grouped, naive = grouped_mean(values, groups), paired_gain(values, np.zeros(12))
    assert grouped.df < 3 and grouped.ci_high - grouped.ci_low > 3 * (naive.ci_high - naive.ci_low)
    one_each = grouped_mean(values[:3], groups[:3])  # one unit per group: the plain t-test
    assert one_each.p_value == pytest.approx(paired_gain(values[:3], np.zeros(3)).p_value)


def test_holm_adjusts_step_down_and_skips_missing_tests():
    adjusted = holm([0.01, 0.04, np.nan, 0.03, 0.2])
    assert adjusted[:2].tolist() == pytest.approx([0.04, 0.09]) and np.isnan(adjusted[2])
    assert adjusted[3:].tolist() == pytest.approx([0.09, 0.2])
