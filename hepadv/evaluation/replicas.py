"""Statistical uncertainties of Data/MC divergences from Poisson bootstrap replicas.

**Replicas.** Every event gets, in replica r = 0..R-1, a Poisson(1) weight (the standard bootstrap of
weighted HEP histograms): the replica histograms are filled in the same pass as the nominal ones, and
the spread of a divergence over replicas is its statistical spread. The weight is a deterministic
function of the event, so chunking and executors never change it. To keep the cost at one ``bincount``
per histogram instead of R, events are dealt at random into G groups (by a draw keyed to the event)
and all events of a group share its weights ``k[g, r]`` (a grouped Poisson bootstrap): a group's
histogram is a sum of independent events, so for the *shape* of a histogram (all KL and JS see) the
replica covariance has the same expectation as the event-level one, with a relative noise of about
sqrt(2 / G) (2 % on a standard deviation for G = 1000, against sqrt(1 / 2R) = 7 % from R = 100).

**Floor.** Two samples of the same parent have KL > 0 from statistics alone. Null replicas emulate
them: replica r's data and MC fluctuations (their shapes minus the nominal shapes) are added to one
common parent, the data and MC shapes pooled by effective sizes (sum w)^2 / sum w^2. Their mean is
the *floor* (the expected divergence for identical parents, at these sample sizes and weights) and
their standard deviation ``floor_std`` the spread under that hypothesis.

**Standard deviation.** Near zero a divergence is quadratic in the fluctuations x: T = x'Ax. The
plain standard deviation over replicas then overestimates its spread (by sqrt(3) at identical
parents), because a replica fluctuates around the observed x, not the true one. With the replica T*_r
and the null replica N_r built from the same fluctuation e_r, T*_r - N_r = T(x) + 2 x'A e_r: its
variance is the linear part of Var(T) plus 2 Var(N), while Var(T) is that linear part plus Var(N). So
``std^2 = Var(T* - N) - Var(N)``, bounded below by Var(N) (the variance at identical parents, the
smallest a divergence can have; the bound makes it slightly conservative there). ``replica_std`` keeps
the plain standard deviation over replicas.

**Significance.** ``z = (value - floor) / floor_std``: how far a divergence is above what identical
parents give, in units of their spread (tested for coverage on toys without mismodelling). That needs
the divergence to be quadratic in the fluctuations, which it checks: then T*_r - N_r averages to T
(above), so ``regime = (mean(T* - N) - T) / its standard error`` is a standard normal number (on the
square for the JS distance, the root of a quadratic). The thesis' KL jumps where MC bins are (nearly)
empty (1e-5 floor) or negative (zeroed in both), as after W+c's OS - SS subtraction, and null
replicas built around a smooth parent miss those jumps: there a 2.3 sigma fluctuation read as
z = 6.6. When |regime| > 3 (``smooth`` false), z divides by ``std`` instead (a Wald statistic, which
rests on the observed histograms, not on the emulated null).

Below ``MIN_EVENTS`` effective events in data or MC no z is given: a bootstrap of a handful of events
keeps each in its bin, so replicas understate the spread (the 40-event real files select one data jet).

**Paired differences.** Two taggers' histograms are filled from the same events with the same replica
weights, so ``T_a - T_b`` replica by replica carries their correlation; the same formulas give the
difference, its floor (the difference expected without any mismodelling), standard deviation and
``z = (difference - floor) / std``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepadv.random import RandomStream

#: |regime| above which a divergence is treated as outside its quadratic regime (z then uses std).
REGIME_LIMIT = 3.0
#: Effective events (of data and of MC) below which no z is given: a bootstrap of a handful of events keeps
#: each in its bin, so the replicas understate the spread (40-event real files: 1 data jet, z would be 100).
MIN_EVENTS = 20.0
#: Replicas and groups when a card does not say.
DEFAULT_REPLICAS = 100
DEFAULT_GROUPS = 1000
#: Poisson(1) cumulative probabilities P(k <= n), n = 0..15 (P(k > 15) < 1e-13: far below float32 draws).
_POISSON1_CDF = np.cumsum([np.exp(-1.0) / np.prod(np.arange(1, n + 1, dtype=np.float64)) for n in range(16)])


def poisson1(u: np.ndarray) -> np.ndarray:
    """Poisson(1) counts from uniforms in [0, 1) by the inverse CDF (vectorised, exact to float precision)."""
    return np.searchsorted(_POISSON1_CDF, np.asarray(u, dtype=np.float64), side="right").astype(np.float64)


def group_weights(stream: RandomStream, groups: int, replicas: int) -> np.ndarray:
    """(groups, replicas) Poisson(1) weights of one sample: row g is every event of group g."""
    return poisson1(stream.uniform((groups, replicas)).numpy())


def event_groups(stream: RandomStream, n: int, groups: int) -> np.ndarray:
    """The group of each of ``n`` rows of ``stream`` (a uniform draw per row, so chunk-independent)."""
    u = stream.uniform((n,)).numpy().astype(np.float64)
    return np.minimum((u * groups).astype(np.int64), groups - 1)


def replica_counts(bins: np.ndarray, weights: np.ndarray, groups: np.ndarray, k: np.ndarray, n_bins: int,
                   ) -> np.ndarray:
    """(replicas, n_bins) replica histograms: bin sum of ``weights * k[group]``; bins outside [0, n_bins) dropped.

    One ``bincount`` over (group, bin) and a (groups x replicas) by (groups x bins) product, summed in a
    fixed order (``einsum`` without BLAS), so equal inputs give bit-identical replicas in any process.
    """
    bins = np.asarray(bins, dtype=np.int64)
    inside = (bins >= 0) & (bins < n_bins)
    n_groups = k.shape[0]
    h = np.bincount(groups[inside] * n_bins + bins[inside], weights=np.asarray(weights, np.float64)[inside],
                    minlength=n_groups * n_bins).reshape(n_groups, n_bins)
    return np.einsum("gr,gb->rb", k, h)


def _shape(h: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return h / h.sum(axis=-1, keepdims=True)


def effective_size(values: np.ndarray, variances: np.ndarray) -> float:
    """(sum w)^2 / sum w^2 of a weighted histogram (its number of equivalent unweighted events)."""
    s, v = float(np.sum(values)), float(np.sum(variances))
    return s * s / v if v > 0 else 0.0


@dataclass(frozen=True)
class Replicated:
    """A divergence (or a difference of two), its value on every replica and on every null replica."""

    value: float | None
    replicas: np.ndarray
    null: np.ndarray
    power: int = 1  #: the divergence to this power is quadratic in the fluctuations (KL 1, JS distance 2)
    events: float = np.inf  #: the smaller effective sample size of data and MC

    def __sub__(self, other: Replicated) -> Replicated:
        value = None if self.value is None or other.value is None else self.value - other.value
        return Replicated(value, self.replicas - other.replicas, self.null - other.null, self.power,
                          min(self.events, other.events))

    def _finite(self) -> tuple[np.ndarray, np.ndarray]:
        ok = np.isfinite(self.replicas) & np.isfinite(self.null)
        return self.replicas[ok], self.null[ok]

    def moments(self) -> dict[str, Any]:
        """value, std (corrected, see the module doc), replica_std, floor, floor_std, replicas (finite ones)."""
        t, n = self._finite()
        out: dict[str, Any] = {"value": self.value, "std": None, "replica_std": None, "floor": None,
                               "floor_std": None, "replicas": len(t),
                               "events": None if np.isinf(self.events) else round(float(self.events), 1)}
        if len(t) < 2:
            return out
        var_null = float(np.var(n, ddof=1))
        var = max(float(np.var(t - n, ddof=1)) - var_null, var_null)
        out.update(std=float(np.sqrt(var)), replica_std=float(np.std(t, ddof=1)), floor=float(np.mean(n)),
                   floor_std=float(np.sqrt(var_null)))
        return out

    def regime(self) -> float | None:
        """(mean(T*^k - N^k) - T^k) / its standard error, k = ``power``: ~N(0, 1) where T^k is quadratic."""
        t, n = self._finite()
        if self.value is None or len(t) < 2:
            return None
        d = t**self.power - n**self.power
        se = float(np.std(d, ddof=1)) / np.sqrt(len(d))
        return float((np.mean(d) - self.value**self.power) / se) if se > 0 else None

    def summary(self) -> dict[str, Any]:
        """A divergence: its moments, regime, smooth and z (against identical parents, see the module doc)."""
        out = self.moments()
        regime = self.regime()
        out["regime"] = regime
        out["smooth"] = regime is not None and abs(regime) <= REGIME_LIMIT
        out["z"] = _ratio(out["value"], out["floor"], out["floor_std"] if out["smooth"] else out["std"])
        if self.events < MIN_EVENTS:  # replicas of a handful of events cannot move the shape: no significance
            out["z"] = None
        return out

    def difference(self) -> dict[str, Any]:
        """A paired difference: its moments and z = (difference - floor) / std."""
        out = self.moments()
        out["difference"] = out.pop("value")
        out["z"] = None if self.events < MIN_EVENTS else _ratio(out["difference"], out["floor"], out["std"])
        return out


def _ratio(value: float | None, floor: float | None, scale: float | None) -> float | None:
    if value is None or floor is None or not scale:
        return None
    return float((value - floor) / scale)


def replicated(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], p: np.ndarray, q: np.ndarray,
               p_reps: np.ndarray, q_reps: np.ndarray, n_p: float, n_q: float, power: int = 1) -> Replicated:
    """Divergence ``fn`` (a batch function such as ``kl_batch``) of data ``p`` and MC ``q`` with replicas.

    ``p_reps``/``q_reps``: (R, bins) replica histograms; ``n_p``/``n_q``: effective sizes, which weight
    the pooled parent of the null replicas; ``power``: see ``Replicated.power``.
    """
    value = float(fn(p, q))
    parent = (n_p * _shape(p) + n_q * _shape(q)) / max(n_p + n_q, 1e-300)
    null = fn(parent + _shape(p_reps) - _shape(p), parent + _shape(q_reps) - _shape(q))
    return Replicated(value if np.isfinite(value) else None, fn(p_reps, q_reps), null, power, min(n_p, n_q))


def format_pm(value: float | None, std: float | None = None, digits: int = 4) -> str:
    """``0.0009 ± 0.0003``: at least ``digits`` decimals, more when needed to show two digits of ``std``."""
    if value is None:
        return "-"
    if std is None or not np.isfinite(std):
        return f"{value:.{digits}f}"
    if std > 0:
        digits = max(digits, int(-np.floor(np.log10(std))) + 1)
    return f"{value:.{digits}f} ± {std:.{digits}f}"
