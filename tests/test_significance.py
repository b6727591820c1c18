"""Repeated-misclassification test (seed 004 eqs. 6-11) against a hand computation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hepadv.defences.significance import plot_significance, repeated_misclassification, significance_from_counts
from hepadv.errors import HepadvError


def poisson_tail(observed: int, lam: float) -> float:
    """P(X >= observed) for X ~ Poisson(lam), summed by hand."""
    return 1.0 - sum(lam**x * math.exp(-lam) / math.factorial(x) for x in range(observed))


def test_matches_hand_computation_on_fixed_flags() -> None:
    # R = 3 runs, N = 10 events. Run 0 flags events 0,1,2; run 1 flags 0,1; run 2 flags 0,3.
    flags = np.zeros((3, 10), dtype=bool)
    flags[0, [0, 1, 2]] = True
    flags[1, [0, 1]] = True
    flags[2, [0, 3]] = True
    res = repeated_misclassification(flags)
    # eq. 6: acc = (10-3)/10, (10-2)/10, (10-2)/10; eq. 7-8: p = 1 - mean = 7/30.
    p = 1 - (0.7 + 0.8 + 0.8) / 3
    assert res.p == pytest.approx(p)
    # counts per event: 3, 2, 1, 1, 0 x 6 -> O = [6, 2, 1, 1]
    assert res.observed.tolist() == [6, 2, 1, 1]
    expected = [10 * math.comb(3, k) * p**k * (1 - p) ** (3 - k) for k in range(4)]
    assert res.expected == pytest.approx(expected)
    assert res.expected.sum() == pytest.approx(10)
    for k in range(4):
        assert res.p_values[k] == pytest.approx(poisson_tail(int(res.observed[k]), expected[k]))
    # E_3 = 10 p^3 = 0.127; one event flagged by all three runs: P(X >= 1) = 1 - e^-0.127 = 0.119 -> not < 0.05
    assert not res.significant.any()


def test_planted_systematic_events_are_significant() -> None:
    rng = np.random.default_rng(3)
    flags = rng.random((10, 20_000)) < 0.05
    flags[:, :40] = rng.random((10, 40)) < 0.8  # 40 clean events the detectors keep flagging
    res = repeated_misclassification(flags)
    assert res.significant[6:].all()  # k >= 6 of 10: only the planted events get there
    assert not res.significant[1:5].any()


def test_empty_bin_has_p_value_one_and_counts_checked() -> None:
    res = significance_from_counts(np.array([0, 0, 1]), runs=4, p=0.1)
    assert res.p_values[4] == 1.0
    with pytest.raises(HepadvError, match=r"flag counts must lie in \[0, 4\]"):
        significance_from_counts(np.array([5]), runs=4, p=0.1)


def test_needs_two_runs() -> None:
    with pytest.raises(HepadvError, match="R >= 2 runs"):
        repeated_misclassification(np.zeros((1, 5), dtype=bool))


def test_plot(tmp_path: Path) -> None:
    flags = np.random.default_rng(0).random((5, 500)) < 0.1
    flags[:, :5] = True
    path = plot_significance(repeated_misclassification(flags), tmp_path / "sig.png")
    assert path.stat().st_size > 1000


def test_excess_at_k0_is_not_repeated_misclassification() -> None:
    """Constructed counts: more never-flagged events than the binomial allows (a significant excess at
    k = 0), fewer flagged once, the repeated tail as expected. Nothing is flagged; the k = 0 p-value says
    the excess is there."""
    runs, p, n = 10, 0.05, 10_000
    expected = n * np.array([math.comb(runs, k) * p**k * (1 - p) ** (runs - k) for k in range(runs + 1)])
    observed = np.round(expected).astype(int)
    observed[0] += 300  # the excess at k = 0 ...
    observed[1] -= 300  # ... taken from k = 1, so the number of events stays n
    counts = np.repeat(np.arange(runs + 1), observed)
    res = significance_from_counts(counts, runs, p)
    assert res.observed[0] > res.expected[0] and res.p_values[0] < 1e-3  # a real excess at k = 0
    assert not res.significant.any()
    assert res.to_dict()["min_repeats"] == 2


def test_immune_events_excess_at_k0_flags_only_the_repeated_tail() -> None:
    """Flags from detectors: a third of the clean events is never flagged, the rest at 6 %. The pooled
    binomial then has too many events at k = 0 *and* at high k; only the high-k excess may be flagged."""
    rng = np.random.default_rng(5)
    flags = rng.random((10, 30_000)) < 0.06
    flags[:, :10_000] = False
    res = repeated_misclassification(flags)
    assert res.observed[0] > res.expected[0] and res.p_values[0] < 1e-6
    assert not res.significant[:2].any() and res.significant[2:].any()
    with pytest.raises(HepadvError, match=r"min_repeats must lie in \[1, 10\]"):
        repeated_misclassification(flags, min_repeats=0)
