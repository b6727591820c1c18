"""CvsL x CvsB scale factors: closure on toys with a known injected ratio, the fit's mechanics, correctionlib."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hepadv.datamc.sffit import (
    FEW_EVENTS,
    FIT,
    NONPOSITIVE,
    SF_FLAVOURS,
    FitSettings,
    Grid,
    SelectionHists,
    direct_solution,
    fit_scale_factors,
    kl_floor,
)
from hepadv.errors import HepadvError
from hepadv.evaluation.divergences import kl_divergence
from tests.sf_toys import FINE, coarse, density, injected_ratio, toy_selections, truth

GRID = Grid((0.0, 0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 0.2, 0.4, 0.6, 0.8, 1.0))


# ----------------------------------------------------------------------------- closure
def test_closure_recovers_the_injected_ratio_within_uncertainties() -> None:
    """20 toys with a known per-bin, per-flavour data/MC ratio: pulls (SF - truth) / sigma are standard normal."""
    ratio = injected_ratio(GRID, size=0.5)
    expected = truth(GRID, ratio)
    pulls = []
    for seed in range(20):
        sels, _, _ = toy_selections(np.random.default_rng(seed), ratio, 4e5, 2e5, GRID)
        result = fit_scale_factors(sels, FitSettings(), GRID)
        assert result.converged
        for f in SF_FLAVOURS:
            fit = result.flag[f] == FIT
            assert fit.sum() >= 20  # 25 bins, a few at the thin edges may lack MC
            pulls += list((result.sf[f][fit] - expected[f][fit]) / result.unc[f][fit])
    pulls = np.asarray(pulls)
    n = len(pulls)
    assert abs(pulls.mean()) < 3 / np.sqrt(n)  # unbiased
    # linear propagation is a little conservative in the sparse corner bins (toys: sigma up to 15 % above the
    # spread there, 2 % in the bulk), so the pulls are slightly narrower than 1 (1500 pulls: +-0.02 stat)
    assert 0.9 < pulls.std() < 1.03
    assert 0.94 < np.mean(np.abs(pulls) < 2) < 0.98


def test_closure_applying_the_factors_brings_the_kl_to_its_statistical_floor() -> None:
    """Fit on one toy data set, test on an independent one from the same parent: KL(data || MC x SF) matches
    KL(data || MC x true ratio), the floor, and is far below KL before the factors."""
    ratio = injected_ratio(GRID, size=0.5)
    before, after, floor, estimated = [], [], [], []
    for seed in range(10):
        sels, mc, _ = toy_selections(np.random.default_rng(seed), ratio, 4e5, 2e5, GRID)
        result = fit_scale_factors(sels, FitSettings(), GRID)
        _, _, held_out = toy_selections(np.random.default_rng(1000 + seed), ratio, 4e5, 2e5, GRID, mc=mc)
        for s in sels:
            m = {f: mc[s.name][f][0] for f in SF_FLAVOURS}
            data = held_out[s.name][0]
            corrected = sum(GRID.expand(result.sf[f], FINE, FINE) * m[f] for f in SF_FLAVOURS)
            before.append(kl_divergence(data, sum(m.values())))
            after.append(kl_divergence(data, corrected))
            floor.append(kl_divergence(data, sum(ratio[f] * m[f] for f in SF_FLAVOURS)))
            estimate = kl_floor(data, held_out[s.name][1], corrected, sum(mc[s.name][f][1] for f in SF_FLAVOURS))
            assert estimate is not None
            estimated.append(estimate[0])
    before, after, floor, estimated = map(np.asarray, (before, after, floor, estimated))
    # the fitted factors carry their own noise (75 of them against 400 fine bins): a few per cent above the floor
    assert np.mean(after) == pytest.approx(np.mean(floor), rel=0.1)
    assert np.mean(after) >= np.mean(floor)
    assert np.mean(before) > 1.5 * np.mean(floor)
    assert np.mean(estimated) == pytest.approx(np.mean(floor), rel=0.15)  # kl_floor's bootstrap estimate holds


def test_no_mismodelling_gives_factors_compatible_with_one() -> None:
    ratio = {f: np.ones((20, 20)) for f in SF_FLAVOURS}
    sels, _, _ = toy_selections(np.random.default_rng(7), ratio, 4e5, 2e5, GRID)
    result = fit_scale_factors(sels, FitSettings(), GRID)
    for f in SF_FLAVOURS:
        c = result.compatibility(f)
        assert c["p_value_vs_1"] > 0.001, (f, c)


# ----------------------------------------------------------------------------- mechanics
def test_iterative_fit_converges_to_the_direct_solution() -> None:
    ratio = injected_ratio(GRID, size=0.5)
    sels, _, _ = toy_selections(np.random.default_rng(3), ratio, 4e5, 2e5, GRID)
    result = fit_scale_factors(sels, FitSettings(min_events=0, tolerance=1e-10), GRID)
    direct = direct_solution(sels)
    for f in SF_FLAVOURS:
        assert (result.flag[f] == FIT).all()
        np.testing.assert_allclose(result.sf[f], direct[f], rtol=1e-8)
    assert result.converged and result.history[-1] < 1e-10
    assert result.iterations == len(result.history) > 2
    # per sweep the change shrinks geometrically (Gauss-Seidel on a diagonally dominant system)
    assert all(b < a for a, b in zip(result.history[1:], result.history[2:], strict=False))


def test_uncertainty_matches_one_bin_by_hand() -> None:
    """One bin, one flavour per selection (no cross-talk): SF = D / (mu M), sigma^2/SF^2 = VarD/D^2 + VarM/M^2."""
    one = np.ones((1, 1))
    sels = [SelectionHists(name, f, 120 * one, 150 * one,  # D = 120 with weights: Var D = 150
                           {g: (80 * one if g == f else 0 * one) for g in SF_FLAVOURS},
                           {g: (90 * one if g == f else 0 * one) for g in SF_FLAVOURS}, 120.0, 80.0, 150.0, 90.0)
            for name, f in (("dy", "light"), ("wc", "c"), ("ttsemilep", "b"))]
    result = fit_scale_factors(sels, FitSettings(normalise=False), Grid((0.0, 1.0), (0.0, 1.0)))
    for f in SF_FLAVOURS:
        assert result.sf[f][0, 0] == pytest.approx(1.5)
        assert result.unc[f][0, 0] == pytest.approx(1.5 * np.sqrt(150 / 120**2 + 90 / 80**2))
    normalised = fit_scale_factors(sels, FitSettings(), Grid((0.0, 1.0), (0.0, 1.0)))
    assert normalised.norm == {"dy": 1.5, "wc": 1.5, "ttsemilep": 1.5}
    assert normalised.sf["c"][0, 0] == pytest.approx(1.0)
    assert normalised.unc["c"][0, 0] == pytest.approx(0.0, abs=1e-12)  # one bin, normalised: SF = 1 by construction


def test_bins_with_few_events_or_a_negative_fit_keep_one_with_a_flag() -> None:
    ratio = injected_ratio(GRID, size=0.5)
    sels, _, _ = toy_selections(np.random.default_rng(5), ratio, 4e4, 2e4, GRID)
    result = fit_scale_factors(sels, FitSettings(min_events=200), GRID)
    few = result.flag["b"] == FEW_EVENTS
    assert few.any() and (result.flag["b"] == FIT).any()
    np.testing.assert_array_equal(result.sf["b"][few], 1.0)
    np.testing.assert_array_equal(result.unc["b"][few], 0.0)
    # a data excess the other flavours cannot explain away with a positive factor: wc bin (0, 0) with no data
    wc = next(s for s in sels if s.name == "wc")
    wc.data[0, 0], wc.data_var[0, 0] = -50.0, 400.0
    result = fit_scale_factors(sels, FitSettings(min_events=0), GRID)
    assert result.flag["c"][0, 0] == NONPOSITIVE and result.sf["c"][0, 0] == 1.0
    assert result.to_json()["flavours"]["c"]["flag"][0][0] == "nonpositive"
    json.dumps(result.to_json(), allow_nan=False)  # valid JSON: no NaN or infinity, whatever the fit did


def test_one_selection_per_flavour_is_required() -> None:
    sels, _, _ = toy_selections(np.random.default_rng(0), injected_ratio(GRID), 1e4, 1e4, GRID)
    with pytest.raises(HepadvError, match="both enrich light"):
        fit_scale_factors([sels[0], sels[0], sels[2]])
    with pytest.raises(HepadvError, match="no selection enriches c"):
        fit_scale_factors([sels[0], sels[2]])


def test_grid_rebins_expands_and_rejects_edges_off_the_filled_grid() -> None:
    fine = np.arange(22 * 22, dtype=float).reshape(22, 22)
    c = GRID.rebin(fine, FINE, FINE)
    assert c.shape == (5, 5) and c.sum() == fine[1:-1, 1:-1].sum()
    assert c[0, 0] == fine[1:5, 1:5].sum()
    back = GRID.expand(c, FINE, FINE)
    assert back.shape == (20, 20) and back[3, 3] == c[0, 0] and back[4, 19] == c[1, 4]
    with pytest.raises(HepadvError, match=r"CvsL edge 0.33 is not an edge of the filled grid"):
        Grid((0.0, 0.33, 1.0), (0.0, 1.0)).rebin(fine, FINE, FINE)
    with pytest.raises(HepadvError, match="must increase from 0 to 1"):
        Grid((0.0, 0.5), (0.0, 1.0)).rebin(fine, FINE, FINE)
    assert coarse(GRID, density("c")).sum() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- outputs
def test_correctionlib_file_evaluates_to_the_fitted_factors(tmp_path: Path) -> None:
    import correctionlib

    from hepadv.datamc.sfcorrection import write_correction_set

    ratio = injected_ratio(GRID, size=0.5)
    sels, _, _ = toy_selections(np.random.default_rng(1), ratio, 4e4, 2e4, GRID)
    result = fit_scale_factors(sels, FitSettings(min_events=100), GRID)
    path = write_correction_set({"nominal@best": result, "adversarial@e003": result}, tmp_path / "sf.json", "test")
    cset = correctionlib.CorrectionSet.from_file(str(path))
    assert set(cset) == {"nominal", "adversarial@e003"}
    corr = cset["nominal"]
    centres = [0.5 * (a + b) for a, b in zip(GRID.cvsl[:-1], GRID.cvsl[1:], strict=True)]
    cl, cb = np.meshgrid(centres, centres, indexing="ij")
    for f, code in (("b", 5), ("c", 4), ("light", 0)):
        flav = np.full(cl.size, code)
        got = corr.evaluate("central", flav, cl.ravel(), cb.ravel()).reshape(cl.shape)
        np.testing.assert_allclose(got, result.sf[f])
        up = corr.evaluate("up", flav, cl.ravel(), cb.ravel()).reshape(cl.shape)
        down = corr.evaluate("down", flav, cl.ravel(), cb.ravel()).reshape(cl.shape)
        np.testing.assert_allclose(up, result.sf[f] + result.unc[f])
        np.testing.assert_allclose(down, np.clip(result.sf[f] - result.unc[f], 0, None))
    # undefined discriminators (< 0) are not corrected; exactly 1 falls in the last bin; bb jets are hadronFlavour 5
    assert corr.evaluate("central", 5, -0.1, 0.5) == 1.0
    assert corr.evaluate("up", 4, 0.5, -999.0) == 1.0
    assert corr.evaluate("central", 4, 1.0, 1.0) == pytest.approx(result.sf["c"][-1, -1])
    with pytest.raises(IndexError):
        corr.evaluate("central", 3, 0.5, 0.5)
