"""The ``arrays`` dataset: the same jets round-trip through npz, parquet and HDF5; mistakes are DataErrors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from hepadv.data.arrays import ArrayJets
from hepadv.errors import DataError

FEATURES = ["Jet_pt", "Jet_eta", "sv_mass", "n_tracks"]


def columns(n: int = 50, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols = {
        "Jet_pt": rng.uniform(20, 500, n).astype(np.float32),
        "Jet_eta": rng.uniform(-2.5, 2.5, n).astype(np.float32),
        "sv_mass": rng.exponential(2.0, n).astype(np.float64),
        "n_tracks": rng.integers(0, 12, n).astype(np.int32),
        "label": rng.integers(0, 4, n).astype(np.int64),
        "unused": np.zeros(n),
    }
    cols["sv_mass"][[0, 1, 2]] = [-999.0, np.inf, 1e34]
    return cols


def write(path: Path, cols: dict[str, np.ndarray]) -> Path:
    """Write columns in the format the suffix names; HDF5 columns go into a group to test ``group/name``."""
    if path.suffix == ".npz":
        np.savez(path, **cols)
    elif path.suffix == ".parquet":
        pq.write_table(pa.table(cols), path)
    else:
        with h5py.File(path, "w") as f:
            for name, values in cols.items():
                f.create_dataset(name, data=values)
    return path


def dataset(path: Path, **params: Any) -> ArrayJets:
    return ArrayJets(ArrayJets.parse_params({"path": str(path), "features": FEATURES, **params}))


@pytest.mark.parametrize("suffix", [".npz", ".parquet", ".h5"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    cols = columns()
    jets = dataset(write(tmp_path / f"jets{suffix}", cols), integer_features=["n_tracks"]).load()
    assert jets.feature_names == tuple(FEATURES) and jets.integer_features == ("n_tracks",)
    assert jets.features.dtype == np.float32 and jets.features.shape == (50, 4)
    assert jets.labels.dtype == np.int64
    np.testing.assert_array_equal(jets.labels, cols["label"])
    np.testing.assert_array_equal(jets.pt, cols["Jet_pt"])
    np.testing.assert_array_equal(jets.eta, cols["Jet_eta"])
    np.testing.assert_array_equal(jets.features[:, 3], cols["n_tracks"])
    sv = jets.marked()[:, 2]
    assert np.isnan(sv[:3]).all(), "placeholder, inf and absurd values become NaN"
    np.testing.assert_allclose(sv[3:], cols["sv_mass"][3:].astype(np.float32))
    assert jets.classes == ("b", "bb", "c", "udsg")


def test_hdf5_group_paths_and_custom_names(tmp_path: Path) -> None:
    cols = columns()
    path = tmp_path / "nested.hdf5"
    with h5py.File(path, "w") as f:
        for name, values in cols.items():
            f.create_dataset(f"jets/{name}", data=values)
    jets = ArrayJets(
        ArrayJets.parse_params(
            {
                "path": str(path),
                "features": ["jets/sv_mass", "jets/n_tracks"],
                "label": "jets/label",
                "pt": "jets/Jet_pt",
                "eta": "jets/Jet_eta",
            }
        )
    ).load()
    np.testing.assert_array_equal(jets.pt, cols["Jet_pt"])
    assert jets.feature_names == ("jets/sv_mass", "jets/n_tracks")


def test_custom_placeholders_and_classes(tmp_path: Path) -> None:
    cols = columns()
    cols["label"] = cols["label"] % 3
    cols["sv_mass"][5] = -1.0
    jets = dataset(write(tmp_path / "c.npz", cols), placeholders=[-1.0], classes=["light", "c", "b"]).load()
    sv = jets.marked()[:, 2]
    assert np.isnan(sv[5]) and np.isnan(sv[1]) and np.isnan(sv[2])
    assert sv[0] == -999.0, "-999 is an ordinary value once the placeholders are replaced"
    assert jets.classes == ("light", "c", "b")


def test_deepcsv_rules_apply_to_deepcsv_columns(tmp_path: Path) -> None:
    cols = {
        "Jet_pt": np.array([30.0, 40.0, 50.0]),
        "Jet_eta": np.zeros(3),
        "Jet_DeepCSV_jetNSelectedTracks": np.array([3, 1, 0]),
        "Jet_DeepCSV_trackPtRel_1": np.array([0.5, 7.0, 0.2]),  # stale values where the track is absent
        "Jet_DeepCSV_trackSip2dSigAboveCharm": np.array([-1.0, 2.0, 3.0]),
        "label": np.array([0, 1, 3]),
    }
    feats = list(cols)[2:5]
    path = write(tmp_path / "deepcsv.parquet", cols)
    x = ArrayJets(ArrayJets.parse_params({"path": str(path), "features": feats})).load().marked()
    assert np.isnan(x[1:, 1]).all() and x[0, 1] == 0.5
    assert np.isnan(x[0, 2])
    raw = ArrayJets(ArrayJets.parse_params({"path": str(path), "features": feats, "deepcsv_rules": False})).load()
    assert not np.isnan(raw.marked()).any()


@pytest.mark.parametrize("suffix", [".npz", ".parquet", ".h5"])
def test_missing_column_names_column_and_file(tmp_path: Path, suffix: str) -> None:
    cols = columns()
    del cols["sv_mass"]
    path = write(tmp_path / f"nosv{suffix}", cols)
    with pytest.raises(DataError, match=r"column 'sv_mass' not found") as err:
        dataset(path).load()
    assert str(path) in str(err.value)


def test_missing_kinematics_column(tmp_path: Path) -> None:
    cols = columns()
    del cols["Jet_eta"]
    with pytest.raises(DataError, match="'Jet_eta' not found"):
        dataset(write(tmp_path / "noeta.npz", cols), features=["sv_mass"]).load()


def test_bad_extension(tmp_path: Path) -> None:
    path = tmp_path / "jets.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"unsupported file type '\.csv'.*\.npz"):
        dataset(path).load()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        dataset(tmp_path / "absent.parquet").load()


@pytest.mark.parametrize("suffix", [".npz", ".parquet", ".h5"])
def test_corrupt_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(DataError, match="cannot read") as err:
        dataset(path).load()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [4, -1, 1.5, np.nan])
def test_labels_outside_classes(tmp_path: Path, bad: float) -> None:
    cols = columns()
    cols["label"] = cols["label"].astype(np.float64)
    cols["label"][7] = bad
    with pytest.raises(DataError, match=r"label column 'label' must hold integers 0\.\.3"):
        dataset(write(tmp_path / "lab.npz", cols)).load()


def test_integral_float_labels_are_accepted(tmp_path: Path) -> None:
    cols = columns()
    cols["label"] = cols["label"].astype(np.float32)
    assert dataset(write(tmp_path / "f.npz", cols)).load().labels.dtype == np.int64


def test_unequal_lengths_and_2d_columns(tmp_path: Path) -> None:
    cols = columns()
    cols["sv_mass"] = cols["sv_mass"][:10]
    with pytest.raises(DataError, match="different lengths"):
        dataset(write(tmp_path / "len.npz", cols)).load()
    cols = columns()
    cols["sv_mass"] = np.zeros((50, 2))
    with pytest.raises(DataError, match="shape"):
        dataset(write(tmp_path / "2d.npz", cols)).load()


def test_params_validation() -> None:
    with pytest.raises(ValidationError):
        ArrayJets.parse_params({"path": "x.npz", "features": []})
    with pytest.raises(ValidationError, match="not in features"):
        ArrayJets.parse_params({"path": "x.npz", "features": ["a"], "integer_features": ["b"]})
    with pytest.raises(ValidationError):
        ArrayJets.parse_params({"path": "x.npz"})


def test_cache_key_includes_file_state(tmp_path: Path) -> None:
    path = write(tmp_path / "k.npz", columns())
    key = dataset(path).cache_key()
    assert str(path.stat().st_size) in key
    write(path, columns(n=60))
    assert dataset(path).cache_key() != key
