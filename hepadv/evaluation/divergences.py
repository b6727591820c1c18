"""Distances between a data histogram P and a simulation histogram Q (thesis app. A.5.3, SPEC 5).

``kl_divergence`` follows the thesis exactly, so numbers can be compared with its fig. A.22:
bins where either histogram is negative (possible after the W+c opposite-sign minus same-sign
subtraction) are set to 0 in both; both are normalised to unit sum; empty simulation bins get
``EMPTY_BIN`` = 1e-5 so the ratio is defined; bins with P_k = 0 contribute 0 (x ln x -> 0).
The Jensen-Shannon distance is the symmetric, bounded (<= sqrt(ln 2)) companion; it needs no floor.

``kl_batch`` and ``js_batch`` apply the same rules along the last axis of stacks of histograms (the
bootstrap replicas of ``hepadv.evaluation.replicas``), giving NaN where a histogram has no positive
content; the scalar functions are those batch functions on one pair, raising instead.
"""

from __future__ import annotations

import numpy as np

#: Probability given to empty simulation bins (thesis: "a tiny value ... (0.00001)").
EMPTY_BIN = 1e-5


def _normalised_batch(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P, Q, valid): probabilities along the last axis after zeroing every bin negative in either."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape[-1:] != q.shape[-1:]:
        raise ValueError(f"histograms must have the same number of bins, got {p.shape[-1]} and {q.shape[-1]}")
    p, q = np.broadcast_arrays(p, q)
    negative = (p < 0) | (q < 0)
    p = np.where(negative, 0.0, p)
    q = np.where(negative, 0.0, q)
    sp, sq = p.sum(axis=-1, keepdims=True), q.sum(axis=-1, keepdims=True)
    valid = (sp[..., 0] > 0) & (sq[..., 0] > 0) & np.isfinite(sp[..., 0]) & np.isfinite(sq[..., 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        return p / sp, q / sq, valid


def _xlogy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a ln(a / b), 0 where a = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0) / np.where(b > 0, b, 1.0)), 0.0)


def kl_batch(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(P || Q) along the last axis for stacks of histograms; NaN where one has no positive content."""
    pn, qn, valid = _normalised_batch(p, q)
    qn = np.where(qn > 0, qn, EMPTY_BIN)
    return np.where(valid, _xlogy(pn, qn).sum(axis=-1), np.nan)


def js_batch(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance along the last axis (same rules as ``kl_batch``); NaN where undefined."""
    pn, qn, valid = _normalised_batch(p, q)
    m = 0.5 * (pn + qn)
    js = 0.5 * _xlogy(pn, m).sum(axis=-1) + 0.5 * _xlogy(qn, m).sum(axis=-1)
    return np.where(valid, np.sqrt(np.maximum(js, 0.0)), np.nan)


def _check(p: np.ndarray, q: np.ndarray) -> None:
    """The scalar functions' errors: shapes, finiteness, positive content of each histogram."""
    p = np.asarray(p, dtype=np.float64).ravel()
    q = np.asarray(q, dtype=np.float64).ravel()
    if p.shape != q.shape:
        raise ValueError(f"histograms must have the same number of bins, got {p.size} and {q.size}")
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        raise ValueError("histogram contents must be finite")
    negative = (p < 0) | (q < 0)
    for name, h in (("data", p), ("simulation", q)):
        if not np.where(negative, 0.0, h).sum() > 0:
            raise ValueError(f"the {name} histogram has no positive content; a distance is undefined")


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """D_KL(P || Q) = sum_k P_k ln(P_k / Q_k), P = data, Q = simulation summed over flavours (raw counts)."""
    _check(p, q)
    return float(kl_batch(np.ravel(p), np.ravel(q)))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance sqrt(JS(P, Q)) in nats, with the same negative-bin rule as ``kl_divergence``."""
    _check(p, q)
    return float(js_batch(np.ravel(p), np.ravel(q)))
