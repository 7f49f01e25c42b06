"""How sure is a trained result? Standard errors of test accuracies and verdicts on differences.

A chapter that says "A trained better than B" must say it only when the difference is larger than
the noise of the measurement. Two sources of noise matter for the book's small runs:

- the test set is a sample: an accuracy p measured on n independent images has the binomial
  standard error sqrt(p (1 - p) / n) (about 2 points at p = 0.75, n = 500);
- training is random: another seed gives another network. With several seeds, the spread of the
  per-seed results measures it (standard error of the mean: sample standard deviation / sqrt(k)).

:func:`difference` combines both into the standard error of a difference of two (mean)
accuracies, and :func:`verdict` turns a difference and its standard error into words a glued
sentence can use. Example::

    >>> d = difference([0.80, 0.82, 0.81], [0.75, 0.74, 0.76], n_test=5000)
    >>> round(d.diff, 3), round(d.se, 4), verdict(d.diff, d.se)
    (0.06, 0.0116, 'higher')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dlbook import checks

__all__ = ["binomial_se", "seed_se", "Difference", "difference", "verdict", "paired_difference",
           "compared", "plus_minus", "counted", "shown_difference"]


def _fraction(p, name: str) -> float:
    return checks.fraction(p, name, fix=f"{name} is not a fraction; pass accuracies in [0, 1], "
                           "not percent.")


def _runs(values, name: str) -> list[float]:
    """One number, or a list/tuple/1-D array of per-seed numbers, as a list of fractions."""
    if isinstance(values, (str, bytes)):
        raise checks.ArgumentTypeError(f"{name}={values!r}: expected an accuracy in [0, 1] or a "
                                       "list of per-seed accuracies, not a string.")
    if isinstance(values, (list, tuple)) or (isinstance(values, np.ndarray) and values.ndim):
        if isinstance(values, np.ndarray) and values.ndim != 1:
            raise ValueError(f"{name} has shape {np.shape(values)}: expected one accuracy or a "
                             "flat list of per-seed accuracies.")
        if len(values) == 0:
            raise ValueError(f"{name} is empty: give at least one accuracy (one per seed).")
        return [_fraction(v, f"{name}[{i}]") for i, v in enumerate(values)]
    return [_fraction(values, name)]


def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy (or error rate) ``p`` measured on ``n`` independent images.

    >>> round(binomial_se(0.75, 500), 4)
    0.0194
    """
    p = _fraction(p, "p")
    n = checks.integer(n, "n", minimum=1,
                       fix="The number of test images must be a positive integer.")
    return math.sqrt(p * (1.0 - p) / n)


def seed_se(values: Sequence[float]) -> float:
    """Standard error of the mean of per-seed results (0.0 for a single seed: no spread known).

    The results are fractions in [0, 1] (accuracies), as everywhere in this module.

    >>> round(seed_se([0.80, 0.82, 0.81]), 4)
    0.0058
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or (
            isinstance(values, np.ndarray) and values.ndim != 1):
        raise checks.ArgumentTypeError(f"values={checks.shown(values)}: expected a list of "
                                       "per-seed results, e.g. [0.80, 0.82, 0.81].")
    values = [_fraction(v, f"values[{i}]") for i, v in enumerate(values)]
    if not values:
        raise ValueError("values is empty: seed_se needs at least one value (one per seed).")
    k = len(values)
    if k == 1:
        return 0.0
    mean = sum(values) / k
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1) / k)


@dataclass(frozen=True)
class Difference:
    """Mean of ``a`` minus mean of ``b``, with its standard error and the parts that make it up."""

    a: float
    b: float
    diff: float
    se: float
    seeds: tuple[int, int]

    @property
    def z(self) -> float:
        """The difference in units of its standard error (inf when the error is 0)."""
        return self.diff / self.se if self.se > 0 else math.copysign(math.inf, self.diff)


def difference(a, b, n_test: int) -> Difference:
    """Difference of two accuracies (each a number or a list of per-seed numbers) on one test set.

    The two sides may have different numbers of seeds; a side with one seed contributes no
    seed-to-seed spread (it is unknown), so give both sides several seeds where it matters.

    The standard error adds the test-set sampling error of each side (binomial on ``n_test``
    images; averaging seeds does not reduce it, the test set is the same) and, with two or more
    seeds, the seed-to-seed spread of each side's mean. Treating the two sides as independent
    overstates the error a little for paired runs on one test set, so verdicts err on the side
    of "within the noise".

    >>> d = difference(0.748, 0.682, n_test=500)
    >>> round(100 * d.diff, 1), round(100 * d.se, 1)
    (6.6, 2.8)
    """
    runs_a, runs_b = _runs(a, "a"), _runs(b, "b")
    n_test = checks.integer(n_test, "n_test", minimum=1,
                            fix="Pass the number of test images, e.g. n_test=len(x_test).")
    mean_a, mean_b = sum(runs_a) / len(runs_a), sum(runs_b) / len(runs_b)
    variance = (binomial_se(mean_a, n_test) ** 2 + binomial_se(mean_b, n_test) ** 2
                + seed_se(runs_a) ** 2 + seed_se(runs_b) ** 2)
    return Difference(mean_a, mean_b, mean_a - mean_b, math.sqrt(variance), (len(runs_a), len(runs_b)))


def shown_difference(a: float, b: float, decimals: int = 1) -> float:
    """``a - b`` as a reader checks it against the two values printed beside it: the difference
    of ``a`` and ``b`` rounded to ``decimals``. (91.34 and 89.46 print as 91.3 and 89.5; their
    exact difference, 1.88, would print as 1.9 and look like a mistake.) Verdicts still come
    from the exact values and their standard error.

    >>> shown_difference(91.34, 89.46), round(91.34 - 89.46, 1)
    (1.8, 1.9)
    """
    decimals = checks.integer(decimals, "decimals", minimum=0, maximum=6,
                              fix="Pass the decimals the two values are shown with, e.g. 1.")
    return round(round(float(a), decimals) - round(float(b), decimals), decimals)


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` things in words for a sentence: numbers under ten spelt out, the noun made plural
    (``noun + "s"`` unless ``plural`` is given), for glued phrases such as "one seed" or
    "3 seeds" that must follow the run's own counts.

    >>> counted(1, "seed"), counted(3, "seed"), counted(12, "run"), counted(2, "family", "families")
    ('one seed', 'three seeds', '12 runs', 'two families')
    """
    n = checks.integer(n, "n", minimum=0, fix="Pass how many there are, e.g. len(SEEDS).")
    number = _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else f"{n:,}"
    return f"{number} {noun if n == 1 else (plural or noun + 's')}"


def verdict(diff: float, se: float, z: float = 2.0) -> str:
    """'higher', 'lower' or 'within the noise': is ``diff`` beyond ``z`` standard errors of 0?

    >>> verdict(0.05, 0.02), verdict(-0.05, 0.02), verdict(0.03, 0.02)
    ('higher', 'lower', 'within the noise')
    """
    diff = checks.real(diff, "diff")
    se = checks.real(se, "se", low=0.0, fix="A standard error is never negative.")
    z = checks.real(z, "z", low=0.0, low_open=True, fix="z=2 asks for two standard errors.")
    if diff > z * se:
        return "higher"
    if diff < -z * se:
        return "lower"
    return "within the noise"


def paired_difference(correct_a, correct_b) -> tuple[float, float]:
    """Difference of two accuracies on the *same* test images, and its standard error.

    ``correct_a``, ``correct_b``: one boolean per test image (or one score in [0, 1], such as
    an IoU). The per-image differences then lie in [-1, 1] (-1, 0 or 1 for booleans); their mean is the difference of the accuracies, and their standard deviation divided by
    the square root of n is its standard error. Images that both models get right, or both get
    wrong, add no uncertainty, so this is tighter than :func:`difference`, which treats the two
    accuracies as independent samples.

    >>> paired_difference([1, 1, 1, 0], [1, 0, 1, 0])
    (0.25, 0.25)
    """
    a = checks.array(correct_a, "correct_a", allow_bool=True, ndim=1, shape_hint="(n,)")
    b = checks.array(correct_b, "correct_b", allow_bool=True, ndim=1, shape_hint="(n,)")
    for values, name in ((a, "correct_a"), (b, "correct_b")):
        if values.size and (values.min() < 0 or values.max() > 1):
            bad = values.min() if values.min() < 0 else values.max()
            raise ValueError(f"{name} holds {bad:g}: expected one result per image in [0, 1] "
                             "(True/False for right/wrong, or a score such as an IoU).")
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired_difference needs two equal-length 1-D arrays of at least two "
                         f"per-image results (got correct_a of shape {a.shape} and correct_b of "
                         f"shape {b.shape}).")
    d = a - b
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


_COMPARED = {"higher": "higher than", "lower": "lower than",
             "within the noise": "not distinguishable from"}


def compared(diff: float, se: float, z: float = 2.0) -> str:
    """:func:`verdict` as words that fit "A is ... B": 'higher than', 'lower than' or 'not
    distinguishable from'.

    >>> compared(0.05, 0.02), compared(0.01, 0.02)
    ('higher than', 'not distinguishable from')
    """
    return _COMPARED[verdict(diff, se, z)]


def plus_minus(value: float, se: float, decimals: int = 3, signed: bool = True) -> str:
    """``value ± se`` as text, with as many decimals as the standard error needs to show a
    nonzero digit (at least ``decimals``, at most 6): a spread printed as "± 0.000" reads as
    a certainty the measurement does not have.

    >>> plus_minus(0.0264, 0.00031), plus_minus(-0.094, 0.053), plus_minus(0.5, 0.0, signed=False)
    ('+0.0264 ± 0.0003', '-0.094 ± 0.053', '0.500 ± 0.000')
    """
    value, se = float(value), float(se)
    if not (math.isfinite(value) and math.isfinite(se)) or se < 0:
        raise ValueError(f"plus_minus({value!r}, {se!r}): expected a finite value and a finite "
                         "standard error >= 0.")
    decimals = checks.integer(decimals, "decimals", minimum=0, maximum=6,
                              fix="Pass the decimals to show at least, e.g. decimals=3.")
    while decimals < 6 and 0 < se and round(se, decimals) == 0:
        decimals += 1
    return f"{value:{'+' if signed else ''}.{decimals}f} ± {se:.{decimals}f}"
