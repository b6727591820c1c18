"""The ``pfnano`` dataset on coffea's real PFNano file and on small synthetic TTrees for the edge cases.

Real-file tests check the cleaning against an independent uproot computation, since the real file has the
quirks synthetic data lacks (stale values for absent tracks, whole tag-info blocks at -999).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from pydantic import ValidationError

from hepadv.data.deepcsv_features import FEATURES, INTEGER_FEATURES, N_ETAREL, N_TRACKS, TRACK_PROPERTIES
from hepadv.data.pfnano import BRANCHES, PFNanoJets
from hepadv.errors import DataError
from tests.testdata import ensure_test_data

INT_BRANCHES = {*INTEGER_FEATURES, "Jet_hadronFlavour", "Jet_nBHadrons"} - {"Jet_DeepCSV_vertexCategory"}


def dataset(files: list[Path], **params: Any) -> PFNanoJets:
    return PFNanoJets(PFNanoJets.parse_params({"files": [str(f) for f in files], **params}))


def raw_jets(path: Path, tree: str = "Events") -> dict[str, np.ndarray]:
    """Every required branch flattened to one value per jet, straight from uproot."""
    arrays = uproot.open(path)[tree].arrays(list(BRANCHES))
    return {b: ak.to_numpy(ak.flatten(arrays[b])) for b in BRANCHES}


def write_jets(
    path: Path, counts: list[int], values: dict[str, np.ndarray] | None = None, drop: tuple[str, ...] = ()
) -> Path:
    """A NanoAOD-like TTree (mktree + extend, not RNTuple) with plausible jets; ``values`` overrides branches."""
    n = int(sum(counts))
    cols: dict[str, np.ndarray] = {}
    for b in BRANCHES:
        cols[b] = np.zeros(n, np.int32) if b in INT_BRANCHES else np.full(n, 0.05, np.float32)
    cols["Jet_pt"] = np.full(n, 50.0, np.float32)
    cols["Jet_DeepCSV_jetNSelectedTracks"] = np.full(n, N_TRACKS, np.int32)
    cols["Jet_DeepCSV_jetNTracksEtaRel"] = np.full(n, N_ETAREL, np.int32)
    cols["Jet_DeepCSV_vertexCategory"] = np.zeros(n, np.float32)
    for b, v in (values or {}).items():
        cols[b] = np.asarray(v, dtype=cols[b].dtype)
    fields = {
        b.removeprefix("Jet_"): ak.unflatten(cols[b], np.asarray(counts, np.int64)) for b in BRANCHES if b not in drop
    }
    jets = ak.zip(fields)
    with uproot.recreate(path) as f:
        tree = f.mktree("Events", {"Jet": jets.type.content, "event": np.int64})
        tree.extend({"Jet": jets, "event": np.arange(len(counts), dtype=np.int64)})
    return path


# ---------------------------------------------------------------- real PFNano file (coffea sdist)


@pytest.fixture(scope="session")
def samples() -> Path:
    """The real coffea files, fetched once per machine (skip when PyPI cannot be reached)."""
    try:
        return ensure_test_data()
    except DataError as exc:
        pytest.skip(f"real test data unavailable: {exc}")


@pytest.fixture(scope="module")
def real(samples: Path) -> tuple[Any, dict[str, np.ndarray]]:
    """Loaded jets and the raw branches of pfnano.root, read once for all real-file tests."""
    path = samples / "pfnano.root"
    return dataset([path]).load(), raw_jets(path)


def reference_selection(raw: dict[str, np.ndarray]) -> np.ndarray:
    """Independent cut: a missing trackSumJetDeltaR (-999/NaN/negative) fails, as pfnano.py documents."""
    dr = raw["Jet_DeepCSV_trackSumJetDeltaR"]
    with np.errstate(invalid="ignore"):
        dr_ok = np.isfinite(dr) & (dr >= 0) & (dr < 0.3)
    pt, eta = raw["Jet_pt"], raw["Jet_eta"]
    return (np.abs(eta) < 2.5) & (pt > 20) & (pt < 1000) & dr_ok


@pytest.mark.realdata
def test_real_feature_order_and_types(real: tuple[Any, dict[str, np.ndarray]]) -> None:
    jets, _ = real
    assert jets.feature_names == FEATURES and len(jets.feature_names) == 67
    assert jets.features.shape == (len(jets), 67) and jets.features.dtype == np.float32
    assert jets.labels.dtype == np.int64 and jets.pt.dtype == np.float32 and jets.eta.dtype == np.float32
    assert jets.integer_features == INTEGER_FEATURES
    assert jets.classes == ("b", "bb", "c", "udsg")
    np.testing.assert_array_equal(jets.features[:, FEATURES.index("Jet_pt")], jets.pt)
    np.testing.assert_array_equal(jets.features[:, FEATURES.index("Jet_eta")], jets.eta)


@pytest.mark.realdata
def test_real_labels_match_direct_uproot_computation(real: tuple[Any, dict[str, np.ndarray]]) -> None:
    jets, raw = real
    keep = reference_selection(raw)
    hf, nb = raw["Jet_hadronFlavour"][keep], raw["Jet_nBHadrons"][keep]
    expected = [
        np.sum((hf == 5) & (nb <= 1)),
        np.sum((hf == 5) & (nb > 1)),
        np.sum(hf == 4),
        np.sum((hf != 5) & (hf != 4)),
    ]
    assert np.bincount(jets.labels, minlength=4).tolist() == expected
    assert len(jets) == keep.sum() > 0
    np.testing.assert_array_equal(jets.pt, raw["Jet_pt"][keep])  # same jets, same order


@pytest.mark.realdata
def test_real_kinematic_cuts_hold(real: tuple[Any, dict[str, np.ndarray]]) -> None:
    jets, raw = real
    dr = jets.marked()[:, FEATURES.index("Jet_DeepCSV_trackSumJetDeltaR")]
    assert np.all(np.abs(jets.eta) < 2.5)
    assert np.all((jets.pt > 20) & (jets.pt < 1000))
    assert np.all(dr < 0.3)  # also: never NaN, untaggable jets are gone
    assert len(jets) < len(raw["Jet_pt"])  # the file has jets outside the cuts


@pytest.mark.realdata
def test_real_missing_track_sum_dr_only_outside_tracker(real: tuple[Any, dict[str, np.ndarray]]) -> None:
    """Grounds the documented choice: -999 trackSumJetDeltaR comes with a fully defaulted tag-info block."""
    _, raw = real
    missing = raw["Jet_DeepCSV_trackSumJetDeltaR"] == -999
    assert missing.any()
    assert np.all(raw["Jet_DeepCSV_vertexCategory"][missing] == -999)
    assert np.all(np.abs(raw["Jet_eta"][missing]) > 2.5)


@pytest.mark.realdata
def test_real_only_nan_remains(real: tuple[Any, dict[str, np.ndarray]]) -> None:
    jets, _ = real
    x = jets.marked()
    assert not np.any(np.isinf(x))
    finite = x[np.isfinite(x)]
    assert not np.any(finite == -999) and np.all(np.abs(finite) < 1e30)
    above_charm = [FEATURES.index(n) for n in FEATURES if n.endswith("AboveCharm")]
    assert not np.any(x[:, above_charm] == -1)


@pytest.mark.realdata
def test_real_track_k_rule(real: tuple[Any, dict[str, np.ndarray]]) -> None:
    """Tracks a jet does not have are NaN, even where the file holds stale, finite numbers for them."""
    jets, raw = real
    x = jets.marked()
    n_sel = x[:, FEATURES.index("Jet_DeepCSV_jetNSelectedTracks")]
    n_etarel = x[:, FEATURES.index("Jet_DeepCSV_jetNTracksEtaRel")]
    for k in range(N_TRACKS):
        cols = [FEATURES.index(f"Jet_DeepCSV_{p}_{k}") for p in TRACK_PROPERTIES]
        assert np.all(np.isnan(x[n_sel < k + 1][:, cols]))
    for k in range(N_ETAREL):
        assert np.all(np.isnan(x[n_etarel < k + 1, FEATURES.index(f"Jet_DeepCSV_trackEtaRel_{k}")]))
    # The rule matters on this file: some absent-track entries are ordinary-looking numbers, not placeholders.
    keep = reference_selection(raw)
    absent = raw["Jet_DeepCSV_jetNSelectedTracks"][keep] < 4
    stale = raw["Jet_DeepCSV_trackDeltaR_3"][keep][absent]
    assert np.any(np.isfinite(stale) & (stale != -999) & (np.abs(stale) < 1e30))


@pytest.mark.realdata
def test_real_two_files_max_jets_and_log(
    samples: Path, real: tuple[Any, dict[str, np.ndarray]], caplog: pytest.LogCaptureFixture
) -> None:
    """Files are concatenated in order, max_jets cuts after cleaning, each file logs its jet counts."""
    jets, _ = real
    path = samples / "pfnano.root"
    with caplog.at_level(logging.INFO, logger="hepadv.data"):
        capped = dataset([path, path], max_jets=len(jets) + 3).load()
    assert len(capped) == len(jets) + 3
    np.testing.assert_array_equal(capped.labels[: len(jets)], jets.labels)
    np.testing.assert_array_equal(capped.features[len(jets) :], jets.features[:3])
    lines = [
        r.getMessage() for r in caplog.records if r.name == "hepadv.data" and "after cleaning" in r.getMessage()
    ]
    assert len(lines) == 2 and all("pfnano.root" in line for line in lines)


@pytest.mark.realdata
def test_real_nanoaod_without_deepcsv_inputs(samples: Path) -> None:
    """Standard NanoAOD (nano_dy.root) lacks the inputs: the error names the branch and the file."""
    path = samples / "nano_dy.root"
    with pytest.raises(DataError, match=r"branch 'Jet_DeepCSV_trackJetPt' is missing") as err:
        dataset([path]).load()
    assert str(path) in str(err.value) and "PFNano" in str(err.value) and "b from bb" in str(err.value)


@pytest.mark.realdata
def test_real_wrong_tree_lists_trees(samples: Path) -> None:
    with pytest.raises(DataError, match=r"no tree 'Jets'; trees in the file: Events, NotEvents, Runs"):
        dataset([samples / "nano_dy_SpecialTree.root"], tree="Jets").load()


@pytest.mark.realdata
def test_real_truncated_file(samples: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.root"
    path.write_bytes((samples / "pfnano.root").read_bytes()[:1_500_000])
    with pytest.raises(DataError, match=r"truncated\.root is not a readable ROOT file") as err:
        dataset([path]).load()
    assert "\n" not in str(err.value)


@pytest.mark.realdata
def test_real_rntuple_is_refused(samples: Path) -> None:
    with pytest.raises(DataError, match="RNTuple"):
        dataset([samples / "nano_dy_SpecialTree_rntuple.root"], tree="NotEvents").load()


# ---------------------------------------------------------------- synthetic files: errors and rules


def test_missing_branch_names_branch_and_file(tmp_path: Path) -> None:
    path = write_jets(tmp_path / "nomass.root", [2, 1], drop=("Jet_DeepCSV_vertexMass",))
    assert uproot.open(path).classnames() == {"Events;1": "TTree"}
    with pytest.raises(DataError) as err:
        dataset([path]).load()
    msg = str(err.value)
    assert "'Jet_DeepCSV_vertexMass'" in msg and str(path) in msg and "\n" not in msg


def test_missing_truth_hints_at_data_file(tmp_path: Path) -> None:
    path = write_jets(tmp_path / "data.root", [2], drop=("Jet_hadronFlavour", "Jet_nBHadrons"))
    with pytest.raises(DataError, match=r"'Jet_hadronFlavour' is missing.*data file"):
        dataset([path]).load()


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.root"
    with pytest.raises(DataError, match=rf"{path}.* does not exist"):
        dataset([path]).load()


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.root"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(DataError, match=r"garbage\.root is not a readable ROOT file") as err:
        dataset([path]).load()
    assert "\n" not in str(err.value)


def test_wrong_tree_name(tmp_path: Path) -> None:
    path = write_jets(tmp_path / "ok.root", [1])
    with pytest.raises(DataError, match=r"ok\.root has no tree 'Evts'; trees in the file: Events"):
        dataset([path], tree="Evts").load()


def test_no_jets_after_cleaning(tmp_path: Path) -> None:
    path = write_jets(tmp_path / "forward.root", [2, 2], {"Jet_eta": np.full(4, 3.0)})
    with pytest.raises(DataError, match=r"no jets left after cleaning.*forward\.root: 4 jets read"):
        dataset([path]).load()


def test_empty_tree_has_no_jets(tmp_path: Path) -> None:
    path = write_jets(tmp_path / "empty.root", [])
    with pytest.raises(DataError, match="no jets left"):
        dataset([path]).load()


def test_track_sum_dr_placeholder_fails_the_cut(tmp_path: Path) -> None:
    dr = np.array([0.1, -999.0, np.nan, 0.5, 0.29, -1.0], np.float32)
    path = write_jets(tmp_path / "dr.root", [3, 3], {"Jet_DeepCSV_trackSumJetDeltaR": dr})
    jets = dataset([path]).load()
    np.testing.assert_allclose(jets.features[:, FEATURES.index("Jet_DeepCSV_trackSumJetDeltaR")], [0.1, 0.29])


def test_labels_and_track_rule_on_synthetic_jets(tmp_path: Path) -> None:
    values = {
        "Jet_hadronFlavour": np.array([5, 5, 4, 0, 21]),
        "Jet_nBHadrons": np.array([1, 2, 0, 0, 0]),
        "Jet_DeepCSV_jetNSelectedTracks": np.array([6, 2, 0, 6, 6]),
        "Jet_DeepCSV_trackPtRel_2": np.array([1.0, 7e31, 0.3, 1.0, 1.0]),  # stale value for an absent track
        "Jet_DeepCSV_vertexMass": np.array([1.5, -999.0, 2.0, 2.0, 2.0]),
    }
    jets = dataset([write_jets(tmp_path / "lab.root", [5], values)]).load()
    assert jets.labels.tolist() == [0, 1, 2, 3, 3]
    col = jets.marked()[:, FEATURES.index("Jet_DeepCSV_trackPtRel_2")]
    assert np.isnan(col[[1, 2]]).all() and np.isfinite(col[[0, 3, 4]]).all()
    assert np.isnan(jets.marked()[1, FEATURES.index("Jet_DeepCSV_vertexMass")])


def test_params_validation_and_relative_paths(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        PFNanoJets.parse_params({"files": []})
    with pytest.raises(ValidationError):
        PFNanoJets.parse_params({"files": ["a.root"], "max_jets": 0})
    with pytest.raises(ValidationError):
        PFNanoJets.parse_params({"files": ["a.root"], "bogus": 1})
    params = PFNanoJets.parse_params({"files": ["sub/a.root"]}, base_dir=tmp_path)
    assert params.files == [tmp_path / "sub" / "a.root"]


def test_cache_key_follows_file_changes(tmp_path: Path) -> None:
    path = write_jets(tmp_path / "k.root", [2])
    ds = dataset([path])
    key = ds.cache_key()
    assert str(path.resolve()) in key and str(path.stat().st_size) in key
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert ds.cache_key() != key
    assert dataset([path], max_jets=1).cache_key() != ds.cache_key()
    with pytest.raises(DataError, match="does not exist"):
        dataset([tmp_path / "gone.root"]).cache_key()
