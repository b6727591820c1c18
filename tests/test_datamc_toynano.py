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


# ----------------------------------------------------------------------------- named data/MC effects
def data_jets(**params: object) -> dict[str, np.ndarray]:
    """Flat jet columns of 1500 ttsemilep "data" events generated with the same seed and ``params``."""
    from hepadv.datamc.toynano import generate_block

    p = ToyNanoParams(topology="ttsemilep", mismodelling=0.0, **params)  # type: ignore[arg-type]
    jets = generate_block(np.random.default_rng(4), 1500, p, is_mc=False)["Jet"]
    return {f: ak.to_numpy(ak.flatten(jets[f])) for f in jets.fields}  # type: ignore[index]


def test_size_zero_effects_are_the_simulation_and_share_one_file() -> None:
    none = ToyNanoParams(mismodelling=0.0)
    zeros = ToyNanoParams(mismodelling=0.0, effects={"pv_pull": 0.0, "ip_resolution": 0.0})
    assert none.key("data") == zeros.key("data") and none.key("mc") == zeros.key("mc")
    assert ToyNanoParams(effects={"pv_pull": -1.0}).key("mc") == none.key("mc")  # MC never depends on them
    assert ToyNanoParams(effects={"pv_pull": -1.0}).key("data") != none.key("data")
    a, b = data_jets(), data_jets(effects={"sv_mass": 0.0, "track_multiplicity": 0.0})
    for field in a:
        np.testing.assert_array_equal(a[field], b[field])


def test_each_effect_changes_the_inputs_it_names() -> None:
    base = data_jets()
    # IP resolution: the resolution-driven (negative) side of the significances widens by 1 + size
    wide = data_jets(effects={"ip_resolution": 0.5})
    neg = [np.quantile(j["DeepCSV_trackSip2dSig_1"][j["DeepCSV_trackSip2dSig_1"] < 0], 0.1) for j in (base, wide)]
    assert 1.35 < neg[1] / neg[0] < 1.65
    # track multiplicity: more prompt tracks per jet
    more = data_jets(effects={"track_multiplicity": 0.2})
    assert more["DeepCSV_jetNSelectedTracks"].mean() > 1.08 * base["DeepCSV_jetNSelectedTracks"].mean()
    # SV mass: x (1 + size) where a vertex exists, placeholders untouched, nothing else changes
    light = data_jets(effects={"sv_mass": -0.1})
    mass, mass0 = light["DeepCSV_vertexMass"], base["DeepCSV_vertexMass"]
    present = mass0 != -999
    np.testing.assert_allclose(mass[present], mass0[present] * np.float32(0.9), rtol=1e-6)
    np.testing.assert_array_equal(mass[~present], mass0[~present])
    np.testing.assert_array_equal(light["DeepCSV_trackSip3dSig_0"], base["DeepCSV_trackSip3dSig_0"])
    # PV pull: without it (size -1), 3D significances of heavy-flavour tracks lose their negative offset;
    # 2D significances and light jets are untouched
    nopull = data_jets(effects={"pv_pull": -1.0})
    np.testing.assert_array_equal(nopull["DeepCSV_trackSip2dSig_0"], base["DeepCSV_trackSip2dSig_0"])
    shift = nopull["DeepCSV_trackSip3dSig_0"] - base["DeepCSV_trackSip3dSig_0"]
    assert shift.min() > -1e-4 and np.mean(shift > 1e-3) > 0.3 and np.mean(np.abs(shift) < 1e-6) > 0.05


def test_effects_in_a_card_are_checked_in_one_line(tmp_path: Path) -> None:
    from hepadv.cards import load
    from hepadv.cards.datamc import DataMCCard
    from hepadv.errors import CardError

    def load_datamc_card(path: Path) -> DataMCCard:
        card = load(path, "datamc")
        assert isinstance(card, DataMCCard)
        return card

    card = tmp_path / "c.yaml"
    card.write_text("kind: datamc\ntoynano: {effects: {pv_pull: -1.0}}\n")
    t = load_datamc_card(card).toynano
    assert t.effects == {"pv_pull": -1.0} and t.ip_scale() == 0.0
    card.write_text("kind: datamc\ntoynano: {mismodelling: 0.2}\n")
    assert load_datamc_card(card).toynano.ip_scale() == 0.2
    assert DataMCCard().toynano.ip_scale() == 0.1  # old cards: IP significances x 1.1
    for text, message in (("toynano: {effects: {ip_smear: 0.1}}", "unknown effect 'ip_smear'; known: ip_scale"),
                          ("toynano: {effects: {sv_mass: -2}}", "effect 'sv_mass' needs a size >= -1"),
                          ("toynano: {effects: {sv_mass: 0.1}, mismodelling: 0.1}", "either mismodelling")):
        card.write_text("kind: datamc\n" + text + "\n")
        with pytest.raises(CardError, match=message) as err:
            load_datamc_card(card)
        assert "\n" not in str(err.value) and "toynano" in str(err.value)
