"""toyjets: layout, determinism, the missing-value rules and the flavour physics the tagger relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from hepadv.data.base import DEEPCSV_CLASSES, RawJets
from hepadv.data.deepcsv_features import (
    FEATURES,
    INTEGER_FEATURES,
    N_ETAREL,
    N_TRACKS,
    SV_FEATURES,
    TRACK_PROPERTIES,
)
from hepadv.data.toyjets import ToyJets, generate_toyjets

N = 20_000
COL = {name: j for j, name in enumerate(FEATURES)}
SV = SV_FEATURES


@pytest.fixture(scope="module")
def jets() -> RawJets:
    return generate_toyjets(N, seed=7)


def col(jets: RawJets, name: str) -> np.ndarray:
    return jets.marked()[:, COL[name]]


def test_layout_and_dtypes(jets: RawJets) -> None:
    assert jets.features.shape == (N, 67)
    assert jets.features.dtype == np.float32
    assert jets.labels.dtype == np.int64
    assert jets.pt.dtype == np.float32 and jets.eta.dtype == np.float32
    assert jets.feature_names == FEATURES
    assert jets.integer_features == INTEGER_FEATURES
    assert jets.classes == DEEPCSV_CLASSES
    np.testing.assert_array_equal(jets.pt, col(jets, "Jet_pt"))
    np.testing.assert_array_equal(jets.eta, col(jets, "Jet_eta"))
    assert not np.isinf(jets.marked()).any(), "placeholders and glitches must have become NaN"


def test_kinematic_acceptance(jets: RawJets) -> None:
    """Every generated jet passes the thesis cleaning cuts, so no jets are silently dropped later."""
    assert np.all((jets.pt > 20) & (jets.pt < 1000))
    assert np.all(np.abs(jets.eta) < 2.5)
    sum_dr = col(jets, "Jet_DeepCSV_trackSumJetDeltaR")
    finite = np.isfinite(sum_dr)
    assert finite.mean() > 0.99  # only the rare glitches are missing
    assert np.all(sum_dr[finite] < 0.3)


def test_labels_follow_fractions() -> None:
    fractions = (0.4, 0.1, 0.2, 0.3)
    labels = generate_toyjets(N, seed=3, fractions=fractions).labels
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    np.testing.assert_allclose(np.bincount(labels, minlength=4) / N, fractions, atol=0.015)


def test_deterministic(jets: RawJets) -> None:
    again = generate_toyjets(N, seed=7)
    np.testing.assert_array_equal(again.features, jets.features)
    np.testing.assert_array_equal(again.labels, jets.labels)
    other = generate_toyjets(N, seed=8)
    assert not np.array_equal(other.labels, jets.labels)


def test_integer_features_are_integers(jets: RawJets) -> None:
    for name in INTEGER_FEATURES:
        v = col(jets, name)
        v = v[np.isfinite(v)]
        assert len(v) > 0
        np.testing.assert_array_equal(v, np.round(v), err_msg=name)
        assert v.min() >= 0
    category = col(jets, "Jet_DeepCSV_vertexCategory")
    assert set(np.unique(category)) == {0.0, 1.0, 2.0}
    n_sel = col(jets, "Jet_DeepCSV_jetNSelectedTracks")
    assert np.all(col(jets, "Jet_DeepCSV_jetNTracksEtaRel") <= n_sel)
    assert np.all(col(jets, "Jet_DeepCSV_jetNSecondaryVertices")[category != 0] == 0)


def test_track_missing_rule(jets: RawJets) -> None:
    n_sel = col(jets, "Jet_DeepCSV_jetNSelectedTracks")
    n_etarel = col(jets, "Jet_DeepCSV_jetNTracksEtaRel")
    for k in range(N_TRACKS):
        absent = n_sel < k + 1
        assert absent.any() and (~absent).any()
        for prop in TRACK_PROPERTIES:
            v = col(jets, f"Jet_DeepCSV_{prop}_{k}")
            assert np.isnan(v[absent]).all(), (prop, k)
            assert np.isfinite(v[~absent]).mean() > 0.99, (prop, k)
    for k in range(N_ETAREL):
        v = col(jets, f"Jet_DeepCSV_trackEtaRel_{k}")
        assert np.isnan(v[n_etarel < k + 1]).all()
        assert np.isfinite(v[n_etarel >= k + 1]).mean() > 0.99


def test_tracks_sorted_by_ip_significance(jets: RawJets) -> None:
    sig = np.stack([col(jets, f"Jet_DeepCSV_trackSip2dSig_{k}") for k in range(N_TRACKS)], axis=1)
    with np.errstate(invalid="ignore"):
        decreasing = np.diff(sig, axis=1) <= 0
    both = np.isfinite(sig[:, 1:]) & np.isfinite(sig[:, :-1])
    assert decreasing[both].all()


def test_heavy_flavour_is_displaced(jets: RawJets) -> None:
    sig0 = col(jets, "Jet_DeepCSV_trackSip2dSig_0")
    mean = [np.nanmean(sig0[jets.labels == c]) for c in range(4)]
    assert mean[0] > mean[2] > mean[3]
    assert mean[1] > mean[3]
    mass = col(jets, "Jet_DeepCSV_vertexMass")
    reco = col(jets, "Jet_DeepCSV_vertexCategory") == 0
    b_mass = np.nanmedian(mass[reco & (jets.labels == 0)])
    c_mass = np.nanmedian(mass[reco & (jets.labels == 2)])
    assert b_mass > c_mass > 0.5
    reco_fraction = [reco[jets.labels == c].mean() for c in range(4)]
    assert reco_fraction[0] > 0.5 > reco_fraction[3]


def test_light_ip_significance_symmetric(jets: RawJets) -> None:
    """Without lifetime, the IP significance of light-jet tracks is resolution noise centred at zero."""
    n_sel = col(jets, "Jet_DeepCSV_jetNSelectedTracks")
    light = (jets.labels == 3) & (n_sel <= N_TRACKS)  # all tracks of these jets are stored
    sig = np.stack([col(jets, f"Jet_DeepCSV_trackSip2dSig_{k}")[light] for k in range(N_TRACKS)]).ravel()
    sig = sig[np.isfinite(sig)]
    assert abs(np.median(sig)) < 0.1
    assert 0.45 < (sig > 0).mean() < 0.56
    core = sig[np.abs(sig) < 3]
    assert abs(np.mean(core)) < 0.1


def test_pv_pull_shows_only_in_3d_minus_2d(jets: RawJets) -> None:
    """Heavy-flavour jets carry a small coherent longitudinal offset: 3D - 2D significance is shifted by
    about -pv_pull * x (x ~ 0.5) with a per-track spread of sig3d_res, while each significance alone is
    dominated by its own spread of several units."""
    from hepadv.data.toyjets import _Tuning

    f, y = jets.marked(), jets.labels
    d = np.concatenate([f[:, COL[f"Jet_DeepCSV_trackSip3dSig_{k}"]] - f[:, COL[f"Jet_DeepCSV_trackSip2dSig_{k}"]]
                        for k in range(N_TRACKS)])
    lab = np.tile(y, N_TRACKS)
    ok = ~np.isnan(d)
    light = d[ok & (lab == 3)]
    b = d[ok & (lab == 0)]
    assert abs(np.mean(light)) < 0.02
    assert np.std(light) == pytest.approx(_Tuning.sig3d_res, rel=0.05)
    shift = np.mean(light) - np.mean(b)
    assert 0.1 * _Tuning.pv_pull < shift < _Tuning.pv_pull
    sig2d_light = f[:, COL["Jet_DeepCSV_trackSip2dSig_0"]][y == 3]
    assert np.nanstd(sig2d_light) > 5 * shift  # invisible in any single input


def test_secondary_vertex_missing_rules(jets: RawJets) -> None:
    category = col(jets, "Jet_DeepCSV_vertexCategory")
    for name in SV:
        v = col(jets, name)
        assert np.isnan(v[category == 2]).all(), name
        assert np.isfinite(v[category == 0]).mean() > 0.99, name
    for name in SV[:4]:  # a pseudo vertex has no fitted flight distance
        assert np.isnan(col(jets, name)[category == 1]).all(), name
    for name in SV[4:]:
        assert np.isfinite(col(jets, name)[category == 1]).mean() > 0.99, name


def test_above_charm_missing_more_often_for_light(jets: RawJets) -> None:
    v = col(jets, "Jet_DeepCSV_trackSip2dSigAboveCharm")
    missing = [np.isnan(v[jets.labels == c]).mean() for c in range(4)]
    assert 0 < missing[0] < missing[3] < 1
    assert not (v == -1.0).any()


def test_difficulty_reduces_separation() -> None:
    def b_minus_light(difficulty: float) -> float:
        j = generate_toyjets(5_000, seed=2, difficulty=difficulty)
        s = j.marked()[:, COL["Jet_DeepCSV_trackSip2dSig_0"]]
        return float(np.nanmedian(s[j.labels == 0]) - np.nanmedian(s[j.labels == 3]))

    assert b_minus_light(2.0) < b_minus_light(1.0) < b_minus_light(0.5)


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_CACHE_DIR", str(tmp_path))
    ds = ToyJets(ToyJets.parse_params({"n_jets": 2_000, "seed": 5}))
    first = ds.load()
    path = ds.cache_path()
    assert path.parent == tmp_path / "toyjets" and path.exists()
    assert not [p for p in path.parent.iterdir() if p != path], "no temporary files left behind"
    mtime = path.stat().st_mtime_ns
    second = ToyJets(ToyJets.parse_params({"n_jets": 2_000, "seed": 5})).load()
    assert path.stat().st_mtime_ns == mtime  # read back, not regenerated
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.pt, second.pt)
    other = ToyJets(ToyJets.parse_params({"n_jets": 2_000, "seed": 6}))
    assert other.cache_path() != path
    assert other.cache_key() != ds.cache_key()


def test_corrupt_cache_is_regenerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_CACHE_DIR", str(tmp_path))
    ds = ToyJets(ToyJets.parse_params({"n_jets": 500}))
    ds.cache_path().parent.mkdir(parents=True)
    ds.cache_path().write_bytes(b"not an npz")
    jets = ds.load()
    np.testing.assert_array_equal(jets.features, generate_toyjets(500).features)


def test_no_cache_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_CACHE_DIR", str(tmp_path))
    ToyJets(ToyJets.parse_params({"n_jets": 500, "cache": False})).load()
    assert not (tmp_path / "toyjets").exists()


def test_params_validation() -> None:
    p = ToyJets.parse_params({})
    assert p.n_jets == 400_000 and p.seed == 1 and p.difficulty == 1.0 and p.cache
    assert ToyJets.parse_params({"fractions": [0.25, 0.25, 0.25, 0.25]}).fractions == (0.25, 0.25, 0.25, 0.25)
    bad: list[dict[str, object]] = [
        {"n_jet": 1000},  # typo: unknown key
        {"n_jets": 10},
        {"seed": -1},
        {"difficulty": 0},
        {"fractions": [0.5, 0.5, 0.5, 0.5]},
        {"fractions": [0.5, 0.0, 0.2, 0.3]},
        {"fractions": [0.5, -0.1, 0.3, 0.3]},
        {"fractions": [0.5, 0.5]},
    ]
    for params in bad:
        with pytest.raises(ValidationError):
            ToyJets.parse_params(params)


def test_generate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate_toyjets(100, fractions=(0.5, 0.5, 0.5, 0.5))
    with pytest.raises(ValueError):
        generate_toyjets(100, difficulty=-1.0)
    with pytest.raises(ValueError):
        generate_toyjets(0)
