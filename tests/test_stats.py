import math
import statistics

import pytest

from c2q.reporting.stats import paired_gain, spread

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
