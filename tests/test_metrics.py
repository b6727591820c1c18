"""Discriminators, ROC curves, AUC and working points against hand computations and brute force."""

from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pytest

from hepadv.errors import HepadvError
from hepadv.evaluation.discriminators import (
    DISCRIMINATORS,
    UNDEFINED_VALUE,
    discriminator,
    discriminator_from_logits,
    is_signal,
    jets_for,
)
from hepadv.evaluation.robustness import auc_drop, susceptibility
from hepadv.evaluation.roc import (
    WORKING_POINTS,
    auc,
    efficiency_at_mistag,
    evaluate_discriminators,
    roc_curve,
    threshold_at_mistag,
)

# Rows of (b, bb, c, udsg).
PROBS = np.array(
    [
        [0.5, 0.2, 0.1, 0.2],
        [0.0, 0.0, 0.3, 0.7],
        [0.1, 0.0, 0.9, 0.0],
        [0.25, 0.25, 0.25, 0.25],
    ]
)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _pairwise_auc(scores: np.ndarray, sig: np.ndarray, weights: np.ndarray | None = None) -> float:
    """AUC by definition: weighted P(score_sig > score_bkg) + 0.5 P(tie) over all signal-background pairs."""
    w = np.ones(len(scores)) if weights is None else weights
    s, b = scores[sig], scores[~sig]
    ws, wb = w[sig], w[~sig]
    pair_w = ws[:, None] * wb[None, :]
    wins = (s[:, None] > b[None, :]) + 0.5 * (s[:, None] == b[None, :])
    return float((pair_w * wins).sum() / pair_w.sum())


# ---------------------------------------------------------------- discriminators


def test_discriminator_formulas_by_hand() -> None:
    expected = {
        "BvsL": [0.7 / 0.9, 0.0 / 0.7, 0.1 / 0.1, 0.5 / 0.75],
        "BvsC": [0.7 / 0.8, 0.0 / 0.3, 0.1 / 1.0, 0.5 / 0.75],
        "CvsB": [0.1 / 0.8, 0.3 / 0.3, 0.9 / 1.0, 0.25 / 0.75],
        "CvsL": [0.1 / 0.3, 0.3 / 1.0, 0.9 / 0.9, 0.25 / 0.5],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(discriminator(PROBS, name), values, rtol=1e-12, err_msg=name)


def test_discriminator_groups() -> None:
    assert DISCRIMINATORS["BvsL"].signal == (0, 1) and DISCRIMINATORS["BvsL"].background == (3,)
    assert DISCRIMINATORS["BvsC"].background == (2,)
    assert DISCRIMINATORS["CvsB"].signal == (2,) and DISCRIMINATORS["CvsB"].background == (0, 1)
    assert DISCRIMINATORS["CvsL"].classes == (2, 3)
    with pytest.raises(HepadvError):
        discriminator(PROBS, "XvsY")


def test_discriminator_zero_denominator_and_clipping() -> None:
    probs = np.array(
        [
            [0.0, 0.0, 1.0, 0.0],  # BvsL undefined: neither b/bb nor udsg
            [1.2, 0.0, 0.0, -0.1],  # slightly out-of-range inputs still give a value in [0, 1]
        ]
    )
    out = discriminator(probs, "BvsL")
    assert out[0] == UNDEFINED_VALUE
    assert 0.0 <= out[1] <= 1.0 and out[1] == 1.0
    assert discriminator(probs, "BvsL", undefined=-1.0)[0] == -1.0
    assert not np.isnan(out).any()


def test_logits_version_matches_probabilities() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=3.0, size=(1000, 4))
    probs = _softmax(logits)
    for name in DISCRIMINATORS:
        np.testing.assert_allclose(discriminator_from_logits(logits, name), discriminator(probs, name), atol=1e-12)


def test_logits_version_stable_for_extreme_logits() -> None:
    logits = np.array(
        [
            [1000.0, -1000.0, 0.0, -1000.0],
            [-1000.0, -1000.0, 1000.0, 1000.0],
            [-1000.0, -1000.0, -1000.0, 1000.0],
            [1000.0, 1000.0, 1000.0, 1000.0],
            [-np.inf, -np.inf, 0.0, -np.inf],  # BvsL undefined
            [-1000.0, -1001.0, 5.0, -1002.0],  # probabilities underflow to exactly 0 in float64
        ]
    )
    for name in DISCRIMINATORS:
        out = discriminator_from_logits(logits, name)
        assert np.isfinite(out).all(), name
        assert ((out >= 0) & (out <= 1)).all(), name
    bvsl = discriminator_from_logits(logits, "BvsL")
    assert bvsl[0] == 1.0 and bvsl[2] == 0.0 and bvsl[3] == pytest.approx(2 / 3)
    assert bvsl[4] == UNDEFINED_VALUE
    # exact answer sigmoid(logsumexp(-1000, -1001) + 1002) where the probability form would give 0/0
    expected = 1 / (1 + np.exp(-(np.logaddexp(-1000.0, -1001.0) + 1002.0)))
    assert bvsl[5] == pytest.approx(expected, rel=1e-12)
    assert discriminator(_softmax(logits[5:]), "BvsL")[0] == UNDEFINED_VALUE


def test_jets_for_and_is_signal() -> None:
    labels = np.array([0, 1, 2, 3, 2, 0])
    np.testing.assert_array_equal(jets_for(labels, "BvsL"), [1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(jets_for(labels, "CvsL"), [0, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(is_signal(labels, "CvsB"), [0, 0, 1, 0, 1, 0])


# ---------------------------------------------------------------- ROC and AUC


def test_perfect_separation_gives_auc_one() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    sig = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    roc = roc_curve(scores, sig)
    assert auc(roc) == 1.0
    assert roc.signal_eff[0] == 0.0 and roc.mistag[0] == 0.0 and np.isinf(roc.thresholds[0])
    assert roc.signal_eff[-1] == 1.0 and roc.mistag[-1] == 1.0
    assert auc(roc_curve(-scores, sig)) == 0.0


def test_identical_distributions_give_half() -> None:
    rng = np.random.default_rng(2)
    scores = rng.random(200_000)
    sig = rng.random(200_000) < 0.5
    assert auc(roc_curve(scores, sig)) == pytest.approx(0.5, abs=0.01)
    # all scores tied: exactly one diagonal step
    roc = roc_curve(np.zeros(10), np.arange(10) < 4)
    assert len(roc) == 2 and auc(roc) == 0.5


def test_hand_made_example_with_ties() -> None:
    # signal 0.9, 0.6, 0.4 ; background 0.6, 0.3, 0.1
    # pairs won: 0.9 beats all 3, 0.6 ties one (0.5) and beats 2, 0.4 beats 2  -> (3 + 2.5 + 2) / 9
    scores = np.array([0.9, 0.6, 0.4, 0.6, 0.3, 0.1])
    sig = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    roc = roc_curve(scores, sig)
    assert auc(roc) == pytest.approx(7.5 / 9, abs=1e-15)
    # one point per distinct score plus the origin; the tie at 0.6 is one diagonal step
    np.testing.assert_allclose(roc.thresholds[1:], [0.9, 0.6, 0.4, 0.3, 0.1])
    np.testing.assert_allclose(roc.signal_eff, [0, 1 / 3, 2 / 3, 1, 1, 1])
    np.testing.assert_allclose(roc.mistag, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_brute_force_pair_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 700
    sig = rng.random(n) < 0.4
    scores = np.round(rng.normal(loc=sig * 0.7, scale=1.0), 1)  # rounding creates many ties
    assert len(np.unique(scores)) < n / 3
    assert auc(roc_curve(scores, sig)) == pytest.approx(_pairwise_auc(scores, sig), abs=1e-9)
    weights = rng.random(n) * 3
    assert auc(roc_curve(scores, sig, weights)) == pytest.approx(_pairwise_auc(scores, sig, weights), abs=1e-9)


def test_integer_weights_equal_repeated_samples() -> None:
    rng = np.random.default_rng(3)
    n = 500
    sig = rng.random(n) < 0.5
    scores = np.round(rng.normal(loc=sig * 1.0), 2)
    weights = rng.integers(0, 4, n)
    weighted = roc_curve(scores, sig, weights.astype(float))
    repeated = roc_curve(np.repeat(scores, weights), np.repeat(sig, weights))
    assert auc(weighted) == pytest.approx(auc(repeated), abs=1e-12)
    for m in (0.001, 0.01, 0.1, 0.5):
        assert efficiency_at_mistag(weighted, m) == pytest.approx(efficiency_at_mistag(repeated, m), abs=1e-12)


def test_roc_input_errors() -> None:
    with pytest.raises(ValueError):
        roc_curve(np.array([0.1, np.nan]), np.array([True, False]))
    with pytest.raises(ValueError):
        roc_curve(np.array([0.1, 0.2]), np.array([True, True]))
    with pytest.raises(ValueError):
        roc_curve(np.array([]), np.array([], dtype=bool))
    with pytest.raises(ValueError):
        efficiency_at_mistag(roc_curve(np.array([0.1, 0.2]), np.array([True, False])), 1.5)


# ---------------------------------------------------------------- working points


def test_efficiency_at_mistag_step_curve() -> None:
    # background at k/100, signal just below each: the curve alternates right and up in steps of 0.01
    k = np.arange(1, 101)
    scores = np.concatenate([k / 100 - 0.005, k / 100])
    sig = np.concatenate([np.ones(100, bool), np.zeros(100, bool)])
    roc = roc_curve(scores, sig)
    assert efficiency_at_mistag(roc, 0.1) == pytest.approx(0.1)
    assert efficiency_at_mistag(roc, 0.105) == pytest.approx(0.1)
    assert efficiency_at_mistag(roc, 0.01) == pytest.approx(0.01)
    assert efficiency_at_mistag(roc, 0.0) == 0.0
    assert efficiency_at_mistag(roc, 1.0) == 1.0
    # the working-point cut: the loosest one keeping 10 of 100 background jets also takes the signal at 0.905
    cut = threshold_at_mistag(roc, 0.1)
    assert cut == pytest.approx(0.905)
    assert (scores[~sig] >= cut).sum() == 10 and (scores[sig] >= cut).sum() == 10


def test_efficiency_at_mistag_interpolates_diagonal() -> None:
    # signal and background tie at every score: the ROC is the diagonal, eff(m) = m for any m
    scores = np.repeat(np.arange(50) / 50, 2)
    sig = np.tile([True, False], 50)
    roc = roc_curve(scores, sig)
    for m in (0.0123, 0.1, 0.5, 0.777):
        assert efficiency_at_mistag(roc, m) == pytest.approx(m, abs=1e-12)


def test_efficiency_at_mistag_gaussian() -> None:
    # signal N(2, 1) vs background N(0, 1): eff(m) = 1 - Phi(Phi^-1(1 - m) - 2)
    rng = np.random.default_rng(4)
    n = 400_000
    scores = np.concatenate([rng.normal(2.0, 1.0, n), rng.normal(0.0, 1.0, n)])
    sig = np.arange(2 * n) < n
    roc = roc_curve(scores, sig)
    phi = NormalDist()
    for m in WORKING_POINTS.values():
        expected = 1 - phi.cdf(phi.inv_cdf(1 - m) - 2.0)
        assert efficiency_at_mistag(roc, m) == pytest.approx(expected, abs=0.01)
    assert auc(roc) == pytest.approx(phi.cdf(2.0 / np.sqrt(2)), abs=0.002)


# ---------------------------------------------------------------- convenience and robustness


def test_evaluate_discriminators_json_ready() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    labels = rng.integers(0, 4, n)
    logits = rng.normal(size=(n, 4))
    logits[np.arange(n), labels] += 2.0
    metrics = evaluate_discriminators(_softmax(logits), labels)
    assert set(metrics) == set(DISCRIMINATORS)
    json.dumps(metrics, allow_nan=False)
    for name, m in metrics.items():
        assert 0.5 < m["auc"] <= 1.0, name
        assert set(m["eff_at_mistag"]) == {"loose", "medium", "tight"}
        effs = m["eff_at_mistag"]
        assert effs["loose"] >= effs["medium"] >= effs["tight"] >= 0.0
    assert metrics["BvsL"]["n_signal"] == int(np.isin(labels, [0, 1]).sum())
    assert metrics["BvsL"]["n_background"] == int((labels == 3).sum())
    from_logits = evaluate_discriminators(logits, labels, logits=True)
    for name in metrics:
        assert from_logits[name]["auc"] == pytest.approx(metrics[name]["auc"], abs=1e-9)


def test_evaluate_discriminators_missing_flavour() -> None:
    labels = np.array([0, 3, 0, 3])  # no c jets: BvsC, CvsB and CvsL are undefined
    probs = np.array([[0.9, 0, 0, 0.1], [0.1, 0, 0, 0.9], [0.6, 0, 0, 0.4], [0.3, 0, 0, 0.7]])
    metrics = evaluate_discriminators(probs, labels)
    assert metrics["BvsL"]["auc"] == 1.0
    assert metrics["CvsL"]["auc"] is None and metrics["CvsL"]["eff_at_mistag"]["medium"] is None
    assert metrics["CvsL"]["n_signal"] == 0
    json.dumps(metrics, allow_nan=False)


def test_auc_drop_and_susceptibility() -> None:
    raw = {"BvsL": {"auc": 0.946}, "CvsL": {"auc": 0.8}, "BvsC": {"auc": None}}
    attacked = {"BvsL": {"auc": 0.883}, "CvsL": 0.632, "BvsC": {"auc": 0.7}}
    drop = auc_drop(raw, attacked)
    assert drop["BvsL"]["delta"] == pytest.approx(0.883 - 0.946)
    assert drop["BvsL"]["relative"] == pytest.approx((0.883 - 0.946) / 0.946)
    assert drop["CvsL"]["relative"] == pytest.approx(-0.21)
    assert drop["BvsC"]["delta"] is None and drop["BvsC"]["relative"] is None
    assert susceptibility(0.946, 0.883) == pytest.approx(-0.063)
    np.testing.assert_allclose(susceptibility([0.9, 0.95], [0.85, 0.8]), [-0.05, -0.15])
