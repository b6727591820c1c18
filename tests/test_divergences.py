"""KL divergence and Jensen-Shannon distance against hand computations and the thesis' rules (app. A.5.3)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hepadv.evaluation.divergences import EMPTY_BIN, js_distance, kl_divergence


def test_identical_histograms_have_zero_kl_and_js() -> None:
    h = np.array([3.0, 0.0, 7.0, 1.5, 0.0])
    assert kl_divergence(h, h) == 0.0
    assert js_distance(h, h) == 0.0
    assert kl_divergence(h, 10 * h) == pytest.approx(0.0, abs=1e-15)  # both are normalised first


def test_kl_hand_computation() -> None:
    p = np.array([1.0, 3.0])  # -> 0.25, 0.75
    q = np.array([1.0, 1.0])  # -> 0.5, 0.5
    expected = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert kl_divergence(p, q) == pytest.approx(expected, rel=1e-12)


def test_empty_mc_bin_gets_the_floor_and_empty_data_bin_contributes_nothing() -> None:
    p = np.array([2.0, 2.0, 0.0])  # -> 0.5, 0.5, 0
    q = np.array([4.0, 0.0, 4.0])  # -> 0.5, 0, 0.5: bin 1 becomes 1e-5, bin 2 has P = 0
    expected = 0.5 * math.log(0.5 / 0.5) + 0.5 * math.log(0.5 / EMPTY_BIN)
    assert EMPTY_BIN == 1e-5
    assert kl_divergence(p, q) == pytest.approx(expected, rel=1e-12)


def test_negative_bins_are_zeroed_in_both_before_normalising() -> None:
    # bin 1 negative in MC (OS-SS), bin 2 negative in data: both bins drop out of P and Q
    p = np.array([1.0, 5.0, -2.0, 3.0])
    q = np.array([2.0, -1.0, 4.0, 2.0])
    pn = np.array([1.0, 3.0]) / 4.0
    qn = np.array([2.0, 2.0]) / 4.0
    expected = float(np.sum(pn * np.log(pn / qn)))
    assert kl_divergence(p, q) == pytest.approx(expected, rel=1e-12)
    assert js_distance(p, q) == pytest.approx(js_distance(np.array([1.0, 3.0]), np.array([2.0, 2.0])), rel=1e-12)


def test_kl_is_asymmetric_and_js_is_symmetric() -> None:
    p = np.array([1.0, 2.0, 7.0])
    q = np.array([3.0, 3.0, 4.0])
    assert kl_divergence(p, q) != pytest.approx(kl_divergence(q, p))
    assert js_distance(p, q) == pytest.approx(js_distance(q, p), rel=1e-12)


def test_js_distance_hand_computation_and_bound() -> None:
    p = np.array([1.0, 0.0])
    q = np.array([0.0, 1.0])
    assert js_distance(p, q) == pytest.approx(math.sqrt(math.log(2)), rel=1e-12)  # disjoint: the maximum
    p = np.array([1.0, 3.0])
    q = np.array([1.0, 1.0])
    m = np.array([0.375, 0.625])
    pn, qn = np.array([0.25, 0.75]), np.array([0.5, 0.5])
    js = 0.5 * np.sum(pn * np.log(pn / m)) + 0.5 * np.sum(qn * np.log(qn / m))
    assert js_distance(p, q) == pytest.approx(math.sqrt(js), rel=1e-12)


def test_kl_grows_with_a_growing_shift() -> None:
    edges = np.linspace(-4, 4, 61)
    centres = 0.5 * (edges[1:] + edges[:-1])
    q = np.exp(-0.5 * centres**2)
    kls = [kl_divergence(np.exp(-0.5 * (centres - s) ** 2), q) for s in (0.0, 0.1, 0.3, 0.6, 1.0)]
    assert all(a < b for a, b in itertools.pairwise(kls))


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        (np.ones(3), np.ones(4), "same number of bins"),
        (np.zeros(3), np.ones(3), "data histogram"),
        (np.ones(3), np.zeros(3), "simulation histogram"),
        (np.array([1.0, np.nan]), np.ones(2), "finite"),
    ],
)
def test_bad_histograms_are_rejected(p: np.ndarray, q: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kl_divergence(p, q)
