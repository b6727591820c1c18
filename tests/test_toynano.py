"""PFNano-format files written from toy jets: exact round trip through the pfnano reader, and training on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import uproot
from typer.testing import CliRunner

from hepadv.cli.main import build_app
from hepadv.data.deepcsv_features import FEATURES
from hepadv.data.pfnano import PFNanoJets
from hepadv.data.toyjets import generate_toyjets
from hepadv.data.toynano import write_pfnano

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    jets = generate_toyjets(6000, 7, (0.30, 0.05, 0.20, 0.45), 1.0)
    return jets, write_pfnano(tmp_path_factory.mktemp("nano") / "toy_pfnano.root", jets, jets_per_event=3)


def test_file_looks_like_pfnano(toy_file) -> None:  # type: ignore[no-untyped-def]
    _, path = toy_file
    tree = uproot.open(path)["Events"]
    assert tree.num_entries == 2000
    assert {"run", "luminosityBlock", "event", "nJet", "Jet_pt", "Jet_hadronFlavour"} <= set(tree.keys())
    assert tree["Jet_DeepCSV_jetNSelectedTracks"].typename == "int32_t[]"
    assert tree["Jet_DeepCSV_trackSip2dSig_0"].typename == "float[]"
    assert not list(path.parent.glob(".*"))  # no temporary file left behind


def test_round_trip_through_pfnano_reader(toy_file) -> None:  # type: ignore[no-untyped-def]
    jets, path = toy_file
    loaded = PFNanoJets(PFNanoJets.parse_params({"files": [str(path)]})).load()
    # toy jets pass the kinematic cuts by construction; only a glitched (NaN) trackSumJetDeltaR fails the
    # < 0.3 cut in the PFNano reader, where a missing value means "no tag info"
    marked = jets.marked()
    kept = ~np.isnan(marked[:, FEATURES.index("Jet_DeepCSV_trackSumJetDeltaR")])
    assert (~kept).sum() <= 5
    np.testing.assert_array_equal(loaded.labels, jets.labels[kept])
    np.testing.assert_array_equal(np.isnan(loaded.marked()), np.isnan(marked[kept]))
    np.testing.assert_allclose(np.nan_to_num(loaded.marked()), np.nan_to_num(marked[kept]), rtol=1e-6)


def test_train_pfnano_card_on_toy_file(toy_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, path = toy_file
    result = CliRunner().invoke(build_app(), [
        "train", str(REPO / "cards" / "pfnano.yaml"), "--set", f"dataset.params.files=[{path}]",
        "--set", f"output={tmp_path / 'pf'}", "--set", "training.epochs=2", "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "pf" / "metrics.json").read_text())
    assert metrics["variants"]["nominal"]["metrics"]["raw"]["BvsL"]["auc"] > 0.7
