"""dlbook.stats: standard errors of accuracies, of differences, and verdicts."""

import math

import numpy as np
import pytest

from dlbook import stats


def test_binomial_se_matches_a_simulation():
    rng = np.random.default_rng(0)
    p, n = 0.7, 400
    measured = rng.binomial(n, p, size=20_000) / n
    assert stats.binomial_se(p, n) == pytest.approx(measured.std(), rel=0.03)


def test_seed_se_is_the_standard_error_of_the_mean():
    values = [0.70, 0.74, 0.71, 0.77]
    assert stats.seed_se(values) == pytest.approx(np.std(values, ddof=1) / 2)
    assert stats.seed_se([0.5]) == 0.0


def test_difference_adds_test_noise_and_seed_spread():
    single = stats.difference(0.8, 0.7, n_test=1000)
    assert single.diff == pytest.approx(0.1)
    assert single.se == pytest.approx(math.sqrt(0.8 * 0.2 / 1000 + 0.7 * 0.3 / 1000))
    spread = stats.difference([0.79, 0.81], [0.69, 0.71], n_test=1000)
    assert spread.se > single.se and spread.seeds == (2, 2)
    assert spread.z == pytest.approx(spread.diff / spread.se)


def test_verdict_needs_the_difference_beyond_z_standard_errors():
    assert stats.verdict(0.041, 0.02) == "higher"
    assert stats.verdict(-0.041, 0.02) == "lower"
    assert stats.verdict(0.039, 0.02) == "within the noise"
    assert stats.verdict(0.03, 0.02, z=1) == "higher"


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="not a fraction"):
        stats.binomial_se(74.8, 500)
    with pytest.raises(ValueError, match="positive integer"):
        stats.binomial_se(0.5, 0)
    with pytest.raises(ValueError, match="not a fraction"):
        stats.difference([0.5, 60], [0.5], n_test=100)
    with pytest.raises(ValueError, match="at least one"):
        stats.seed_se([])


def test_paired_difference_counts_only_the_images_the_models_disagree_on():
    from dlbook.stats import compared, difference, paired_difference, verdict

    rng = np.random.default_rng(0)
    a = rng.random(2000) < 0.85
    b = a.copy()
    flip = rng.choice(2000, 100, replace=False)  # the models disagree on 100 images
    b[flip] = ~b[flip]
    diff, se = paired_difference(a, b)
    assert diff == pytest.approx(a.mean() - b.mean())
    d = a.astype(float) - b.astype(float)
    assert se == pytest.approx(np.sqrt(((d - d.mean()) ** 2).sum() / 1999 / 2000))
    # tighter than treating the two accuracies as independent samples of the test set
    assert se < difference(float(a.mean()), float(b.mean()), n_test=2000).se
    assert compared(diff, se) == {"higher": "higher than", "lower": "lower than",
                                  "within the noise": "not distinguishable from"}[verdict(diff, se)]
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference(a, b[:-1])


def test_plus_minus_shows_a_nonzero_digit_of_every_nonzero_spread():
    import re

    rng = np.random.default_rng(0)
    for se in 10.0 ** rng.uniform(-6, 0, 200):
        text = stats.plus_minus(rng.normal(), se)
        shown = float(re.search(r"± (\S+)", text).group(1))
        assert shown > 0 and abs(shown - se) <= 0.5 * 10 ** -len(text.split(".")[-1]), text
    assert stats.plus_minus(0.0264, 0.0011) == "+0.026 ± 0.001"   # three decimals already enough
    assert stats.plus_minus(0.1, 0.0) == "+0.100 ± 0.000"          # a zero spread is shown as zero
    with pytest.raises(ValueError, match="finite"):
        stats.plus_minus(float("nan"), 0.1)
