"""Distances between a data histogram P and a simulation histogram Q (thesis app. A.5.3, SPEC 5).

``kl_divergence`` follows the thesis exactly, so numbers can be compared with its fig. A.22:
bins where either histogram is negative (possible after the W+c opposite-sign minus same-sign
subtraction) are set to 0 in both; both are normalised to unit sum; empty simulation bins get
``EMPTY_BIN`` = 1e-5 so the ratio is defined; bins with P_k = 0 contribute 0 (x ln x -> 0).
The Jensen-Shannon distance is the symmetric, bounded (<= sqrt(ln 2)) companion; it needs no floor.
"""

from __future__ import annotations

import numpy as np

#: Probability given to empty simulation bins (thesis: "a tiny value ... (0.00001)").
EMPTY_BIN = 1e-5


def _normalised(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both histograms as probabilities, after zeroing every bin that is negative in either."""
    p = np.asarray(p, dtype=np.float64).ravel()
    q = np.asarray(q, dtype=np.float64).ravel()
    if p.shape != q.shape:
        raise ValueError(f"histograms must have the same number of bins, got {p.size} and {q.size}")
    if not (np.isfinite(p).all() and np.isfinite(q).all()):
        raise ValueError("histogram contents must be finite")
    negative = (p < 0) | (q < 0)
    p = np.where(negative, 0.0, p)
    q = np.where(negative, 0.0, q)
    for name, h in (("data", p), ("simulation", q)):
        if not h.sum() > 0:
            raise ValueError(f"the {name} histogram has no positive content; a distance is undefined")
    return p / p.sum(), q / q.sum()


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """D_KL(P || Q) = sum_k P_k ln(P_k / Q_k), P = data, Q = simulation summed over flavours (raw counts)."""
    pn, qn = _normalised(p, q)
    qn = np.where(qn > 0, qn, EMPTY_BIN)
    terms = np.zeros_like(pn)
    nz = pn > 0
    terms[nz] = pn[nz] * np.log(pn[nz] / qn[nz])
    return float(terms.sum())


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance sqrt(JS(P, Q)) in nats, with the same negative-bin rule as ``kl_divergence``."""
    pn, qn = _normalised(p, q)
    m = 0.5 * (pn + qn)

    def rel(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return float(np.sqrt(max(0.0, 0.5 * rel(pn) + 0.5 * rel(qn))))
