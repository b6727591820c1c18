"""toynano Data/MC events: NanoAOD layout, physics that the selections rely on, documented data mismodelling."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepadv.datamc.toynano import DEFAULT_MISMODELLED, ToyNanoParams, toynano_files, write_events


@pytest.fixture(scope="module")
def dy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    params = ToyNanoParams(topology="dy", n_events_mc=3000, n_events_data=3000, mismodelling=0.2)
    return toynano_files(params, tmp_path_factory.mktemp("toynano"))


def test_layout_mc_has_truth_and_weights_data_has_neither(dy: dict[str, Path]) -> None:
    mc = uproot.open(dy["mc"])["Events"]
    data = uproot.open(dy["data"])["Events"]
    for key in ("run", "luminosityBlock", "event", "nJet", "nMuon", "MET_pt", "Muon_tightId", "Jet_jetId"):
        assert key in set(mc.keys()) & set(data.keys())
    assert sum(k.startswith("Jet_DeepCSV_") for k in list(mc.keys())) == 65  # + Jet_pt, Jet_eta = 67 inputs
    assert {"genWeight", "Jet_hadronFlavour", "Jet_nBHadrons"} <= set(mc.keys())
    assert not {"genWeight", "Jet_hadronFlavour", "Jet_nBHadrons"} & set(data.keys())
    assert mc.num_entries == 3000 and data.num_entries == 3000
    assert type(uproot.open(dy["mc"])["Events"]).__name__.startswith("Model_TTree")


def test_dimuon_mass_peaks_at_the_z(dy: dict[str, Path]) -> None:
    mu = uproot.open(dy["mc"])["Events"].arrays(["Muon_pt", "Muon_eta", "Muon_phi"])
    pt, eta, phi = (ak.to_numpy(mu[f"Muon_{v}"][:, :2]) for v in ("pt", "eta", "phi"))
    m2 = 2 * pt[:, 0] * pt[:, 1] * (np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1]))
    assert abs(np.median(np.sqrt(m2)) - 91.19) < 1.0


def test_mismodelling_scales_the_chosen_inputs(tmp_path: Path) -> None:
    """Same seed, data with and without mismodelling: chosen inputs x 1.3 where present, the rest identical."""
    base = ToyNanoParams(topology="ttsemilep", n_events_data=500, mismodelling=0.0)
    shifted = base.model_copy(update={"mismodelling": 0.3})
    a = uproot.open(write_events(tmp_path / "a.root", base, is_mc=False))["Events"]
    b = uproot.open(write_events(tmp_path / "b.root", shifted, is_mc=False))["Events"]
    name = DEFAULT_MISMODELLED[0]
    va, vb = (ak.to_numpy(ak.flatten(t[name].array())) for t in (a, b))
    present = va != -999
    np.testing.assert_allclose(vb[present], va[present] * np.float32(1.3), rtol=1e-6)
    np.testing.assert_array_equal(vb[~present], va[~present])
    other = "Jet_DeepCSV_vertexMass"
    np.testing.assert_array_equal(ak.flatten(a[other].array()), ak.flatten(b[other].array()))


def test_wc_soft_muon_charge_correlates_with_charm(tmp_path: Path) -> None:
    path = write_events(tmp_path / "wc.root", ToyNanoParams(topology="wc", n_events_mc=4000), is_mc=True)
    ev = uproot.open(path)["Events"].arrays(["Muon_charge", "Muon_pfRelIso04_all", "Jet_hadronFlavour", "Jet_phi"])
    soft = ev["Muon_pfRelIso04_all"] > 0.3  # soft muons are non-isolated; prompt ones rarely pass 0.3
    q_w = ak.firsts(ev["Muon_charge"][~soft])
    q_soft = ak.firsts(ev["Muon_charge"][soft])
    opposite = ak.to_numpy(ak.fill_none(q_w * q_soft < 0, False))
    has_c = ak.to_numpy(ak.any(ev["Jet_hadronFlavour"] == 4, axis=1))
    both = ak.to_numpy(~ak.is_none(q_w) & ~ak.is_none(q_soft))
    assert opposite[both & has_c].mean() > 0.7 > opposite[both & ~has_c].mean()
