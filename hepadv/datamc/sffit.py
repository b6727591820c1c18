"""CvsL x CvsB shape scale factors per flavour from three flavour-enriched selections (thesis app. A.5.2).

Model, per bin k of the coarse grid and selection s (dy light-enriched, wc c-enriched, ttsemilep b-enriched)::

    D_s,k = mu_s * sum_f SF_f,k * M_s,f,k        f in (b incl. bb, c, light)

with D the data, M the MC per truth flavour (genWeight- and, for W+c, OS-SS-weighted) and mu_s the MC-to-data
normalisation of the selection (sum of data weights over sum of MC weights over all histogrammed jets, flows
included: "MC normalised to data", thesis app. A.5; ``normalise=False`` keeps the MC weights as given).

Iterative fit (CMS-PAS-BTV-20-001, as used in the thesis): all factors start at 1; each selection in turn
updates its enriched flavour, SF_f,k = (D_s,k - mu_s sum_{g != f} SF_g,k M_s,g,k) / (mu_s M_s,f,k), with the
other flavours' current factors held fixed (Gauss-Seidel). Convergence: the largest relative change of any
fitted factor in one sweep over the three selections is below ``tolerance`` (default 1e-6); after
``max_iterations`` sweeps without it the bins still moving are flagged. Three selections and three flavours
make each bin an exactly determined 3 x 3 linear system, so the fixed point is its solution (tested against a
direct solve): the fit reproduces the data in every fitted bin of the coarse grid.

Flags (bins that keep SF = 1, as the thesis does "where the iterative fit is impossible"):
``FEW_EVENTS`` when the enriched flavour's MC or the selection's data has fewer than ``min_events`` effective
entries in the bin (n_eff = (sum w)^2 / sum w^2, 0 if sum w <= 0: for OS-SS that is the significance of the
difference squared); ``NONPOSITIVE`` when the fit gives SF <= 0; ``NOT_CONVERGED`` as above. A flagged flavour
enters the other flavours' equations with SF = 1. Their uncertainty is 0 (no measurement; the flag says so).

Statistical uncertainties: linear propagation at the fixed point. With A_s,f = mu_s M_s,f and the residual of
selection s, r_s = D_s - sum_f A_s,f SF_f, the factors solve r = 0, so Cov(SF) = A^-1 diag(Var r) A^-T (the
selections are independent samples). Var r_s comes from the sums of squared weights of data and MC in the bin
and, since mu_s = (all data) / (all MC) contains the bin, from the totals too: with q = D_s,k / D_s,total,
Var r = Var D_k (1 - 2q) + q^2 Var D_total + mu^2 [sum_f Var M_f,k (SF_f^2 - 2 q SF_f) + q^2 Var M_total]
(q = 0 without normalisation). The normalisation makes the factors measure a shape: a bin holding a fraction q of
the selection is known better than its own counts say (treating mu as exact overstates sigma by ~1/sqrt(1 - q);
the closure toys showed pulls of width 0.93 then). Flagged flavours are moved to the right-hand side with SF = 1
(their MC variance still counts). Bins are correlated through mu; each bin's uncertainty is its marginal one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepadv.errors import HepadvError

#: Scale-factor flavours, the truth classes in each and CMS's hadronFlavour code (correctionlib input).
SF_FLAVOURS: tuple[str, ...] = ("light", "c", "b")
GROUPS: dict[str, tuple[str, ...]] = {"b": ("b", "bb"), "c": ("c",), "light": ("udsg",)}
HADRON_FLAVOUR: dict[str, int] = {"b": 5, "c": 4, "light": 0}
#: The flavour each built-in selection enriches (thesis app. A.5).
ENRICHES: dict[str, str] = {"dy": "light", "wc": "c", "ttsemilep": "b"}

FIT, FEW_EVENTS, NONPOSITIVE, NOT_CONVERGED = 0, 1, 2, 3
FLAG_NAMES: dict[int, str] = {FIT: "fit", FEW_EVENTS: "few_events", NONPOSITIVE: "nonpositive",
                              NOT_CONVERGED: "not_converged"}
#: Default coarse grid (edges in CvsL and in CvsB): 0.1-wide bins, a subset of the filled 0.05 grid.
DEFAULT_EDGES: tuple[float, ...] = tuple(round(0.1 * i, 10) for i in range(11))


@dataclass(frozen=True)
class Grid:
    """The coarse CvsL x CvsB grid the factors are measured on; its edges must be edges of the filled grid."""

    cvsl: tuple[float, ...] = DEFAULT_EDGES
    cvsb: tuple[float, ...] = DEFAULT_EDGES

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.cvsl) - 1, len(self.cvsb) - 1

    def rebin(self, fine: np.ndarray, fine_cvsl: Sequence[float], fine_cvsb: Sequence[float]) -> np.ndarray:
        """Sum a (CvsL+2, CvsB+2) histogram with flows into this grid (flows dropped)."""
        inner = np.asarray(fine, dtype=np.float64)[1:-1, 1:-1]
        rows = _groups(self.cvsl, fine_cvsl, "CvsL")
        cols = _groups(self.cvsb, fine_cvsb, "CvsB")
        return np.add.reduceat(np.add.reduceat(inner, rows, axis=0), cols, axis=1)

    def expand(self, coarse: np.ndarray, fine_cvsl: Sequence[float], fine_cvsb: Sequence[float]) -> np.ndarray:
        """Each fine bin (no flows) takes the value of the coarse bin it lies in."""
        rows = np.repeat(np.arange(self.shape[0]), np.diff([*_groups(self.cvsl, fine_cvsl, "CvsL"),
                                                             len(fine_cvsl) - 1]))
        cols = np.repeat(np.arange(self.shape[1]), np.diff([*_groups(self.cvsb, fine_cvsb, "CvsB"),
                                                             len(fine_cvsb) - 1]))
        return np.asarray(coarse)[np.ix_(rows, cols)]


def _groups(edges: Sequence[float], fine: Sequence[float], axis: str) -> np.ndarray:
    """Index of the first fine bin of each coarse bin; the coarse edges must cover [fine[0], fine[-1]]."""
    fine = np.asarray(fine, dtype=np.float64)
    idx = []
    for e in edges:
        hit = np.flatnonzero(np.isclose(fine, e, atol=1e-9))
        if not len(hit):
            raise HepadvError(f"{axis} edge {e:g} is not an edge of the filled grid "
                              f"({fine[0]:g} to {fine[-1]:g} in steps of {fine[1] - fine[0]:g})")
        idx.append(int(hit[0]))
    if idx[0] != 0 or idx[-1] != len(fine) - 1 or any(b <= a for a, b in itertools.pairwise(idx)):
        raise HepadvError(f"{axis} edges must increase from {fine[0]:g} to {fine[-1]:g}, got {list(edges)}")
    return np.asarray(idx[:-1])


@dataclass
class SelectionHists:
    """One selection on the coarse grid: data and MC per scale-factor flavour, with sums of squared weights."""

    name: str
    enriches: str
    data: np.ndarray
    data_var: np.ndarray
    mc: dict[str, np.ndarray]
    mc_var: dict[str, np.ndarray]
    data_total: float
    mc_total: float
    data_total_var: float
    mc_total_var: float


@dataclass
class FitSettings:
    min_events: float = 10.0
    tolerance: float = 1e-6
    max_iterations: int = 1000
    normalise: bool = True


@dataclass
class SFResult:
    """Factors, uncertainties and flags per flavour (arrays of the grid's shape), and how the fit went."""

    grid: Grid
    sf: dict[str, np.ndarray]
    unc: dict[str, np.ndarray]
    flag: dict[str, np.ndarray]
    norm: dict[str, float]
    iterations: int
    converged: bool
    max_change: float
    history: list[float] = field(default_factory=list)

    def compatibility(self, flavour: str) -> dict[str, Any]:
        """How far the fitted factors are from 1: chi2 = sum ((SF - 1) / sigma)^2 over fitted bins (independent
        bins; each bin's three flavours are correlated, so this is per flavour), its ndf and p-value."""
        from scipy.stats import chi2 as chi2_dist

        fit = (self.flag[flavour] == FIT) & (self.unc[flavour] > 0)
        pulls = (self.sf[flavour][fit] - 1) / self.unc[flavour][fit]
        chi2 = float(np.sum(pulls**2))
        n = int(fit.sum())
        return {"n_fitted": int((self.flag[flavour] == FIT).sum()), "n_bins": int(self.flag[flavour].size),
                "chi2_vs_1": chi2, "ndf": n, "p_value_vs_1": float(chi2_dist.sf(chi2, n)) if n else None,
                "mean_abs_deviation": float(np.mean(np.abs(self.sf[flavour][fit] - 1))) if n else None}

    def to_json(self) -> dict[str, Any]:
        """Nested lists indexed [CvsL bin][CvsB bin]; flags by name; no NaN."""
        return {
            "cvsl_edges": list(self.grid.cvsl),
            "cvsb_edges": list(self.grid.cvsb),
            "flavours": {f: {"sf": _finite(self.sf[f]), "unc": _finite(self.unc[f]),
                             "flag": [[FLAG_NAMES[int(v)] for v in row] for row in self.flag[f]],
                             **self.compatibility(f)} for f in SF_FLAVOURS},
            "normalisation": self.norm,
            "iterations": self.iterations,
            "converged": self.converged,
            "max_relative_change": self.max_change if np.isfinite(self.max_change) else None,
        }


def _finite(a: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if np.isfinite(v) else None for v in row] for row in np.asarray(a, dtype=np.float64)]


def n_eff(sumw: np.ndarray, sumw2: np.ndarray) -> np.ndarray:
    """Effective entries (sum w)^2 / sum w^2; 0 where the sum of weights is not positive."""
    sumw, sumw2 = np.asarray(sumw, dtype=np.float64), np.asarray(sumw2, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((sumw > 0) & (sumw2 > 0), sumw**2 / np.where(sumw2 > 0, sumw2, 1.0), 0.0)


def fit_scale_factors(selections: Sequence[SelectionHists], settings: FitSettings | None = None,
                      grid: Grid | None = None) -> SFResult:
    """The iterative fit over ``selections`` (one per flavour of ``SF_FLAVOURS``); see the module docstring."""
    settings = settings or FitSettings()
    by_flavour = _one_per_flavour(selections)
    shape = by_flavour[SF_FLAVOURS[0]].data.shape
    grid = grid or Grid()
    norm = {s.name: _normalisation(s, settings.normalise) for s in selections}
    flag = {f: np.full(shape, FIT, dtype=np.int8) for f in SF_FLAVOURS}
    for f, s in by_flavour.items():
        few = (n_eff(s.mc[f], s.mc_var[f]) < settings.min_events) | (n_eff(s.data, s.data_var) < settings.min_events)
        flag[f][few] = FEW_EVENTS
    sf = {f: np.ones(shape) for f in SF_FLAVOURS}
    iterations, converged, change, history = 0, True, 0.0, []
    for _ in range(3 * len(SF_FLAVOURS) * int(np.prod(shape)) + 1):  # each pass flags >= 1 bin or ends
        it, converged, change, moving, hist = _iterate(by_flavour, norm, sf, flag, settings)
        iterations += it
        history += hist
        newly = False
        for f in SF_FLAVOURS:
            bad = (flag[f] == FIT) & ~(np.isfinite(sf[f]) & (sf[f] > 0))
            stuck = (flag[f] == FIT) & moving[f] & ~bad
            flag[f][bad], flag[f][stuck] = NONPOSITIVE, NOT_CONVERGED
            newly |= bool(bad.any() or stuck.any())
        if not newly:
            break
        for f in SF_FLAVOURS:  # flagged bins restart from 1 and the others re-converge around them
            sf[f] = np.where(flag[f] == FIT, sf[f], 1.0)
    unc = _uncertainties(by_flavour, norm, sf, flag, settings.normalise)
    return SFResult(grid, sf, unc, flag, norm, iterations, converged, change, history)


def _one_per_flavour(selections: Sequence[SelectionHists]) -> dict[str, SelectionHists]:
    out: dict[str, SelectionHists] = {}
    for s in selections:
        if s.enriches not in SF_FLAVOURS:
            raise HepadvError(f"selection {s.name!r} enriches {s.enriches!r}; expected one of {', '.join(SF_FLAVOURS)}")
        if s.enriches in out:
            raise HepadvError(f"selections {out[s.enriches].name!r} and {s.name!r} both enrich {s.enriches} jets; "
                              "the fit needs one selection per flavour")
        out[s.enriches] = s
    missing = [f for f in SF_FLAVOURS if f not in out]
    if missing:
        raise HepadvError(f"no selection enriches {', '.join(missing)} jets; the fit needs one per flavour "
                          f"(built in: {', '.join(f'{k} ({v})' for k, v in ENRICHES.items())})")
    return out


def _normalisation(s: SelectionHists, normalise: bool) -> float:
    if not normalise:
        return 1.0
    if not (s.data_total > 0 and s.mc_total > 0):
        raise HepadvError(f"selection {s.name!r}: data ({s.data_total:g}) and MC ({s.mc_total:g}) need positive "
                          "sums of weights to normalise MC to data")
    return float(s.data_total / s.mc_total)


def _iterate(by_flavour: dict[str, SelectionHists], norm: dict[str, float], sf: dict[str, np.ndarray],
             flag: dict[str, np.ndarray], settings: FitSettings,
             ) -> tuple[int, bool, float, dict[str, np.ndarray], list[float]]:
    """Gauss-Seidel sweeps until the largest relative change is below tolerance; updates ``sf`` in place."""
    history: list[float] = []
    moving = {f: np.zeros_like(flag[f], dtype=bool) for f in SF_FLAVOURS}
    for it in range(1, settings.max_iterations + 1):
        worst = 0.0
        for f in SF_FLAVOURS:
            s, mu = by_flavour[f], norm[by_flavour[f].name]
            free = flag[f] == FIT
            with np.errstate(all="ignore"):  # singular or diverging bins become non-finite and are flagged
                others = sum(sf[g] * s.mc[g] for g in SF_FLAVOURS if g != f)
                new = np.where(free, (s.data / mu - others) / s.mc[f], 1.0)
                rel = np.where(free, np.abs(new - sf[f]) / np.maximum(np.abs(sf[f]), 1e-12), 0.0)
            rel = np.where(np.isfinite(rel), rel, np.inf)
            moving[f] = rel > settings.tolerance
            worst = max(worst, float(rel.max(initial=0.0)))
            sf[f] = new
        history.append(worst)
        if worst < settings.tolerance:
            return it, True, worst, {f: np.zeros_like(m) for f, m in moving.items()}, history
        if not all(np.isfinite(sf[f][flag[f] == FIT]).all() for f in SF_FLAVOURS):
            break  # a singular bin: flag it (non-finite -> NONPOSITIVE) and carry on
    return len(history), False, history[-1] if history else 0.0, moving, history


def _residual_variance(s: SelectionHists, mu: float, sf: dict[str, np.ndarray], normalised: bool) -> np.ndarray:
    """Var r_s per bin, the normalisation's share included (see the module docstring)."""
    q = s.data / s.data_total if normalised else np.zeros_like(s.data)
    mc = sum(s.mc_var[f] * (sf[f] ** 2 - 2 * q * sf[f]) for f in SF_FLAVOURS)
    var = (s.data_var * (1 - 2 * q) + q**2 * (s.data_total_var if normalised else 0.0)
           + mu**2 * (mc + q**2 * (s.mc_total_var if normalised else 0.0)))
    return np.clip(var, 0.0, None)


def _uncertainties(by_flavour: dict[str, SelectionHists], norm: dict[str, float], sf: dict[str, np.ndarray],
                   flag: dict[str, np.ndarray], normalised: bool) -> dict[str, np.ndarray]:
    """sqrt(diag(A^-1 diag(Var r) A^-T)) per bin over the fitted flavours (see the module docstring)."""
    shape = sf[SF_FLAVOURS[0]].shape
    n = len(SF_FLAVOURS)
    # A[k, s, f]: selection s = the one enriching flavour index s; var_r[k, s]
    a = np.stack([np.stack([norm[by_flavour[fs].name] * by_flavour[fs].mc[f] for f in SF_FLAVOURS], axis=-1)
                  for fs in SF_FLAVOURS], axis=-2).reshape(-1, n, n)
    var_r = np.stack([_residual_variance(by_flavour[fs], norm[by_flavour[fs].name], sf, normalised)
                      for fs in SF_FLAVOURS], axis=-1).reshape(-1, n)
    free = np.stack([flag[f] == FIT for f in SF_FLAVOURS], axis=-1).reshape(-1, n)
    out = np.zeros((a.shape[0], n))
    for pattern in {tuple(row) for row in free}:
        idx = np.flatnonzero((free == np.asarray(pattern)).all(axis=1))
        keep = np.flatnonzero(pattern)
        if not len(keep):
            continue
        sub = a[idx][:, keep][:, :, keep]
        with np.errstate(all="ignore"):
            inv = np.linalg.pinv(sub)
        cov = np.einsum("kij,kj,klj->kil", inv, var_r[idx][:, keep], inv)
        out[np.ix_(idx, keep)] = np.sqrt(np.clip(np.einsum("kii->ki", cov), 0, None))
    return {f: out[:, i].reshape(shape) for i, f in enumerate(SF_FLAVOURS)}


def direct_solution(selections: Sequence[SelectionHists], normalise: bool = True) -> dict[str, np.ndarray]:
    """A^-1 D per bin with every flavour free: what the iterative fit converges to where nothing is flagged."""
    by_flavour = _one_per_flavour(selections)
    norm = {s.name: _normalisation(s, normalise) for s in selections}
    a = np.stack([np.stack([norm[by_flavour[fs].name] * by_flavour[fs].mc[f] for f in SF_FLAVOURS], axis=-1)
                  for fs in SF_FLAVOURS], axis=-2)
    d = np.stack([by_flavour[fs].data for fs in SF_FLAVOURS], axis=-1)
    x = np.linalg.solve(a, d[..., None])[..., 0]
    return {f: x[..., i] for i, f in enumerate(SF_FLAVOURS)}


def corrected_mc(s: SelectionHists, sf: dict[str, np.ndarray]) -> np.ndarray:
    """sum_f SF_f M_s,f on the grid of ``sf`` (normalise afterwards as needed)."""
    return sum(sf[f] * s.mc[f] for f in SF_FLAVOURS)


def kl_floor(p: np.ndarray, p_var: np.ndarray, q: np.ndarray, q_var: np.ndarray, replicas: int = 200,
             seed: int = 0) -> tuple[float, float] | None:
    """(mean, standard deviation) of KL(P || Q) when P and Q come from the same parent: the statistical floor.

    A parametric bootstrap: ``replicas`` pseudo-data sets drawn around Q's shape scaled to P's total, and pseudo-MC
    sets around Q, each bin Gaussian with its sum of squared weights, then the same ``kl_divergence`` (negative bins
    zeroed, empty MC bins at 1e-5) as the measured value. Unlike a second-order formula it stays right for the
    sparse, sign-changing bins of an OS-SS subtraction. None when either histogram has no positive content.
    """
    from hepadv.evaluation.divergences import kl_divergence

    p, q = np.asarray(p, dtype=np.float64).ravel(), np.clip(np.asarray(q, dtype=np.float64).ravel(), 0, None)
    if not (p.sum() > 0 and q.sum() > 0):
        return None
    rng = np.random.default_rng(seed)
    sd_p = np.sqrt(np.clip(np.asarray(p_var, dtype=np.float64).ravel(), 0, None))
    sd_q = np.sqrt(np.clip(np.asarray(q_var, dtype=np.float64).ravel(), 0, None))
    fake_p = p.sum() * q / q.sum() + rng.standard_normal((replicas, p.size)) * sd_p
    fake_q = q + rng.standard_normal((replicas, q.size)) * sd_q
    kls = []
    for a, b in zip(fake_p, fake_q, strict=True):  # a few hundred replicas of one histogram, not events
        try:
            kls.append(kl_divergence(a, b))
        except ValueError:  # a replica with nothing positive left
            continue
    return (float(np.mean(kls)), float(np.std(kls))) if kls else None


def agreement(fine: SelectionHists, sf_fine: dict[str, np.ndarray]) -> dict[str, float | None]:
    """KL(data || MC) of one selection before and after the factors (each fine bin takes its coarse bin's SF),
    and the statistical floor of the corrected comparison with its spread (``kl_floor``)."""
    from hepadv.evaluation.divergences import kl_divergence

    before = corrected_mc(fine, {f: np.ones_like(fine.data) for f in SF_FLAVOURS})
    after = corrected_mc(fine, sf_fine)
    after_var = sum(sf_fine[f] ** 2 * fine.mc_var[f] for f in SF_FLAVOURS)
    try:
        out: dict[str, float | None] = {"kl_before": kl_divergence(fine.data, before),
                                        "kl_after": kl_divergence(fine.data, after)}
    except ValueError:  # nothing positive (e.g. all of W+c cancelled): no distance
        return {"kl_before": None, "kl_after": None, "kl_floor": None, "kl_floor_std": None}
    floor = kl_floor(fine.data, fine.data_var, after, after_var)
    return {**out, "kl_floor": floor[0] if floor else None, "kl_floor_std": floor[1] if floor else None}
