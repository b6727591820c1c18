"""Preprocessing: defaults below the minimum, scaling without defaults, split, (pT, eta) reweighting."""

from __future__ import annotations

import numpy as np
import pytest

from hepadv.cards.schema import PreprocessSection
from hepadv.data.base import FeatureSpec, RawJets
from hepadv.data.deepcsv_features import FEATURES, flavour_labels, kinematic_cuts, mark_missing
from hepadv.data.preprocess import feature_defaults, prepare, prepare_cached, scaling
from hepadv.data.weights import bin_indices, kinematic_weights
from hepadv.errors import DataError
from tests.synthetic import make_raw


def test_default_just_below_minimum() -> None:
    x = np.array([[1.0, np.nan], [3.0, -2.0], [np.nan, 5.0]], dtype=np.float32)
    np.testing.assert_allclose(feature_defaults(x), [0.999, -2.001], rtol=1e-6)


def test_scaling_excludes_missing() -> None:
    x = np.array([[1.0], [3.0], [np.nan], [np.nan]])
    mean, std = scaling(x)
    assert mean[0] == 2.0 and std[0] == 1.0


def test_prepare_places_defaults_and_scales_from_train_only() -> None:
    raw = make_raw(5000)
    data = prepare(raw, PreprocessSection(pt_bins=5, eta_bins=5, cache=False))
    spec = data.spec
    assert (len(data.train), len(data.val), len(data.test)) == (3600, 400, 1000)
    # missing values became the default, which sits below every real value
    col = 3
    at_default = np.isclose(data.train.x[:, col], spec.scaled_defaults[col], atol=1e-5)
    assert 0.15 < at_default.mean() < 0.25
    assert data.train.x[~at_default, col].min() > spec.scaled_defaults[col]
    # scaled bulk (excluding defaults) has mean 0, std 1 on the training split
    bulk = data.train.x[~at_default, col]
    assert abs(bulk.mean()) < 1e-4 and abs(bulk.std() - 1) < 1e-3
    assert list(spec.integer) == [False, False, False, False, True, True]


def test_missing_class_is_clear_error() -> None:
    raw = make_raw(500)
    raw.labels[raw.labels == 1] = 0
    with pytest.raises(DataError, match="no jets of class 'bb'"):
        prepare(raw, PreprocessSection(cache=False))


def test_feature_spec_round_trip() -> None:
    spec = prepare(make_raw(800), PreprocessSection(cache=False)).spec
    again = FeatureSpec.from_dict(spec.to_dict())
    np.testing.assert_array_equal(again.mean, spec.mean)
    assert again.names == spec.names and list(again.integer) == list(spec.integer)
    x = np.random.default_rng(1).normal(size=(10, spec.n_features))
    np.testing.assert_allclose(spec.unscale(spec.scale(x)), x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", ["average", "flat"])
def test_weighted_kinematics_match_target_per_flavour(target: str) -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    labels = rng.choice(4, n, p=[0.3, 0.05, 0.2, 0.45])
    pt = 20 + rng.exponential(40 + 40 * (labels == 1), n)
    eta = np.clip(rng.normal(0, 0.8 + 0.4 * (labels == 3), n), -2.49, 2.49)
    bins, pt_range, eta_range = (10, 10), (20.0, 900.0), (-2.5, 2.5)
    w = kinematic_weights(pt, eta, labels, 4, target, bins, pt_range, eta_range)
    assert abs(w.mean() - 1) < 1e-4
    pt_edges = np.linspace(*pt_range, bins[0] + 1)
    eta_edges = np.linspace(*eta_range, bins[1] + 1)
    flat = bin_indices(pt, pt_edges) * bins[1] + bin_indices(eta, eta_edges)
    hists = np.array([np.bincount(flat[labels == f], weights=w[labels == f], minlength=100) for f in range(4)])
    # classes balanced: equal total weight
    np.testing.assert_allclose(hists.sum(axis=1), hists.sum() / 4, rtol=1e-3)
    # every class's weighted (pT, eta) histogram is the same (the target) where all classes populate a bin
    populated = (np.array([np.bincount(flat[labels == f], minlength=100) for f in range(4)]) > 0).all(axis=0)
    common = hists[:, populated]
    norm = common / common.sum(axis=1, keepdims=True)
    for f in range(1, 4):
        np.testing.assert_allclose(norm[f], norm[0], rtol=1e-6, atol=1e-12)
    if target == "flat":
        np.testing.assert_allclose(norm[0], norm[0].mean(), rtol=1e-6)


def test_no_reweighting_gives_ones() -> None:
    w = kinematic_weights(np.ones(5), np.zeros(5), np.arange(5) % 4, 4, "none")
    assert (w == 1).all()


def test_mark_missing_rules() -> None:
    names = FEATURES
    x = np.zeros((4, len(names)), dtype=np.float32) + 0.5
    j = {n: i for i, n in enumerate(names)}
    x[:, j["Jet_DeepCSV_jetNSelectedTracks"]] = [0, 1, 6, 6]
    x[:, j["Jet_DeepCSV_jetNTracksEtaRel"]] = [0, 1, 4, 4]
    x[2, j["Jet_DeepCSV_vertexMass"]] = -999.0
    x[2, j["Jet_DeepCSV_trackSip2dValAboveCharm"]] = -1.0
    x[3, j["Jet_DeepCSV_trackSip2dSig_0"]] = -1.0  # a real, negative significance
    x[3, j["Jet_DeepCSV_flightDistance2dSig"]] = np.inf
    x[3, j["Jet_DeepCSV_vertexEnergyRatio"]] = 1e34
    out, n_bad = mark_missing(x)
    assert n_bad == 4
    assert np.isnan(out[0, j["Jet_DeepCSV_trackSip2dSig_0"]])  # no track
    assert not np.isnan(out[1, j["Jet_DeepCSV_trackSip2dSig_0"]])
    assert np.isnan(out[1, j["Jet_DeepCSV_trackSip2dSig_1"]])  # only one track
    assert np.isnan(out[1, j["Jet_DeepCSV_trackEtaRel_1"]]) and not np.isnan(out[1, j["Jet_DeepCSV_trackEtaRel_0"]])
    assert np.isnan(out[2, j["Jet_DeepCSV_vertexMass"]])
    assert np.isnan(out[2, j["Jet_DeepCSV_trackSip2dValAboveCharm"]])
    assert out[3, j["Jet_DeepCSV_trackSip2dSig_0"]] == -1.0
    assert np.isnan(out[3, j["Jet_DeepCSV_flightDistance2dSig"]])
    assert np.isnan(out[3, j["Jet_DeepCSV_vertexEnergyRatio"]])
    assert not np.isnan(out[2:, :]).all(axis=1).any()


def test_flavour_labels_and_cuts() -> None:
    labels = flavour_labels(np.array([5, 5, 4, 0, 5]), np.array([1, 2, 0, 0, 0]))
    assert labels.tolist() == [0, 1, 2, 3, 0]
    keep = kinematic_cuts(np.array([30, 15, 30, 1200, 30.0]), np.array([0, 0, 2.6, 0, 0.0]),
                          np.array([0.1, 0.1, 0.1, 0.1, 0.4]))
    assert keep.tolist() == [True, False, False, False, False]


class _CountingDataset:
    name = "counting"

    def __init__(self) -> None:
        self.loads = 0

    def load(self) -> RawJets:
        self.loads += 1
        return make_raw(1000)

    def cache_key(self) -> str:
        return "counting-v1"


def test_prepared_tensors_are_cached(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ds = _CountingDataset()
    a = prepare_cached(ds, PreprocessSection(), tmp_path)
    b = prepare_cached(ds, PreprocessSection(), tmp_path)
    assert ds.loads == 1
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert a.spec.names == b.spec.names
    prepare_cached(ds, PreprocessSection(seed=5), tmp_path)
    assert ds.loads == 2
