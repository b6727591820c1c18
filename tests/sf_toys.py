"""Synthetic CvsL x CvsB histograms with a known data/MC ratio per flavour: the scale-factor closure toys.

Each flavour has one density over the fine 20 x 20 grid (light at low CvsL, c at high CvsL and CvsB, b at low
CvsB), the same in every selection; the selections differ by flavour mix. Data = MC expectation x ``ratio``,
where ``ratio`` is constant on each coarse bin and normalised so that every flavour keeps its total yield
(then normalising MC to data in each selection removes only the luminosity ratio, and the truth of the fitted
factors is ``ratio`` itself). Counts are Poisson; MC carries 5 % negative genWeights; W+c is opposite-sign
minus same-sign, with a flavour-blind same-sign background in data and MC, so its bins are differences with
sum-of-squares errors, as in the processor.
"""

from __future__ import annotations

import numpy as np

from hepadv.datamc.sffit import SF_FLAVOURS, Grid, SelectionHists

FINE = np.linspace(0.0, 1.0, 21)
CENTRES = 0.5 * (FINE[1:] + FINE[:-1])
#: Flavour fractions per selection (light, c, b), roughly the toynano pools.
MIX = {"dy": (0.85, 0.10, 0.05), "wc": (0.30, 0.55, 0.15), "ttsemilep": (0.15, 0.10, 0.75)}
ENRICH = {"dy": "light", "wc": "c", "ttsemilep": "b"}
#: Blob centre (CvsL, CvsB) and width per flavour.
BLOBS = {"light": (0.25, 0.55, 0.18), "c": (0.6, 0.6, 0.2), "b": (0.4, 0.2, 0.18)}


def density(flavour: str) -> np.ndarray:
    x, y, w = BLOBS[flavour]
    gx, gy = np.meshgrid(CENTRES, CENTRES, indexing="ij")
    p = np.exp(-((gx - x) ** 2 + (gy - y) ** 2) / (2 * w**2)) + 0.002  # a thin floor: no bin exactly empty
    return p / p.sum()


def injected_ratio(grid: Grid, size: float = 0.3) -> dict[str, np.ndarray]:
    """Per-flavour ratio on the fine grid, constant on each coarse bin, yield-preserving per flavour."""
    cl = grid.expand(np.add.outer(0.5 * (np.asarray(grid.cvsl[1:]) + grid.cvsl[:-1]),
                                  np.zeros(grid.shape[1])), FINE, FINE)
    cb = grid.expand(np.add.outer(np.zeros(grid.shape[0]),
                                  0.5 * (np.asarray(grid.cvsb[1:]) + grid.cvsb[:-1])), FINE, FINE)
    shapes = {"light": 1 + size * (cl - 0.5), "c": 1 - size * (cb - 0.5) + 0.5 * size * (cl - 0.5),
              "b": 1 + size * np.sin(3 * cl) * (cb - 0.3)}
    return {f: r / (r * density(f)).sum() for f, r in shapes.items()}


def _counts(rng: np.random.Generator, mean: np.ndarray, negative: float) -> tuple[np.ndarray, np.ndarray]:
    """(sum of weights, sum of squared weights) for Poisson events with a fraction of -1 weights."""
    pos = rng.poisson(mean * (1 - negative) / (1 - 2 * negative))
    neg = rng.poisson(mean * negative / (1 - 2 * negative))
    return (pos - neg).astype(float), (pos + neg).astype(float)


def coarse(grid: Grid, fine: np.ndarray) -> np.ndarray:
    """A fine (20 x 20, no flows) array summed into ``grid``."""
    return grid.rebin(np.pad(fine, 1), FINE, FINE)


def truth(grid: Grid, ratio: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The factors the fit should find: each flavour's ratio averaged over its density in each coarse bin."""
    return {f: coarse(grid, ratio[f] * density(f)) / coarse(grid, density(f)) for f in SF_FLAVOURS}


def toy_selections(rng: np.random.Generator, ratio: dict[str, np.ndarray], n_mc: float, n_data: float,
                   grid: Grid, mc: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] | None = None,
                   ) -> tuple[list[SelectionHists], dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                              dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(coarse selections, fine MC per selection and flavour, fine data per selection); ``mc`` reuses MC."""
    fresh_mc = mc is None
    mc = {} if mc is None else mc
    data_fine: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for sel, mix in MIX.items():
        dens = {f: density(f) for f in SF_FLAVOURS}
        ss = 0.3 if sel == "wc" else 0.0  # same-sign background per OS event, flavour-blind (light-like)
        if fresh_mc:
            mc[sel] = {}
            for f, frac in zip(SF_FLAVOURS, mix, strict=True):
                os_w, os_v = _counts(rng, n_mc * frac * dens[f] * (1 + ss), 0.05)
                ss_w, ss_v = _counts(rng, n_mc * frac * dens[f] * ss, 0.05)
                mc[sel][f] = (os_w - ss_w, os_v + ss_v)
        expect = sum(n_data * frac * ratio[f] * dens[f] for f, frac in zip(SF_FLAVOURS, mix, strict=True))
        os_d = rng.poisson(expect * (1 + ss)).astype(float)
        ss_d = rng.poisson(expect * ss).astype(float) if ss else np.zeros_like(os_d)
        data_fine[sel] = (os_d - ss_d, os_d + ss_d)
        out.append(SelectionHists(
            sel, ENRICH[sel],
            coarse(grid, data_fine[sel][0]), coarse(grid, data_fine[sel][1]),
            {f: coarse(grid, mc[sel][f][0]) for f in SF_FLAVOURS},
            {f: coarse(grid, mc[sel][f][1]) for f in SF_FLAVOURS},
            float(data_fine[sel][0].sum()), float(sum(mc[sel][f][0].sum() for f in SF_FLAVOURS)),
            float(data_fine[sel][1].sum()), float(sum(mc[sel][f][1].sum() for f in SF_FLAVOURS))))
    return out, mc, data_fine
