"""Data/MC on coffea's real NanoAOD files: cutflows checked against a plain per-event reference.

dy: 2018 DoubleMuon data vs DY MC with CMS's stored DeepCSV/DeepJet discriminators; ttsemilep on the NanoAOD
v12 ttbar file (MC only, DeepJet C derived from CvsL); a trained tagger on the PFNano file's DeepCSV inputs,
compared jet by jet with the model applied to the same branches read by uproot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from hepadv.cards import load
from hepadv.datamc.report import load_hists
from hepadv.datamc.run import run_datamc
from hepadv.errors import DataError
from tests.testdata import ensure_test_data

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def samples() -> Path:
    try:
        return ensure_test_data()
    except DataError as exc:
        pytest.skip(f"real test data unavailable: {exc}")


def run(tmp_path: Path, **card: Any) -> dict[str, Any]:
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump({"plots": False, "root": False, "output": str(tmp_path / "out"), **card}))
    return run_datamc(load(path, "datamc"), progress=False)


def _mass(a: dict[str, float], b: dict[str, float]) -> float:
    def p4(o: dict[str, float]) -> tuple[float, float, float, float]:
        px, py, pz = o["pt"] * math.cos(o["phi"]), o["pt"] * math.sin(o["phi"]), o["pt"] * math.sinh(o["eta"])
        return math.sqrt(px * px + py * py + pz * pz + o["mass"] ** 2), px, py, pz

    s = [x + y for x, y in zip(p4(a), p4(b), strict=True)]
    return math.sqrt(max(s[0] ** 2 - s[1] ** 2 - s[2] ** 2 - s[3] ** 2, 0.0))


def _dr(a: dict[str, float], b: dict[str, float]) -> float:
    dphi = (a["phi"] - b["phi"] + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(a["eta"] - b["eta"], dphi)


def reference_dy(path: Path) -> list[int]:
    """The dy cuts event by event in plain Python, independent of the awkward implementation."""
    ev = uproot.open(path)["Events"].arrays(["Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge",
                                             "Muon_tightId", "Muon_pfRelIso04_all", "Jet_pt", "Jet_eta", "Jet_phi",
                                             "Jet_jetId"], library="ak")
    counts = [0] * 6
    for e in ak.to_list(ev):
        mus = [{"pt": e["Muon_pt"][i], "eta": e["Muon_eta"][i], "phi": e["Muon_phi"][i], "mass": e["Muon_mass"][i],
                "q": e["Muon_charge"][i]} for i in range(len(e["Muon_pt"]))
               if e["Muon_pt"][i] > 12 and abs(e["Muon_eta"][i]) < 2.4 and e["Muon_tightId"][i]
               and e["Muon_pfRelIso04_all"][i] < 0.15]
        if len(mus) != 2:
            continue
        counts[0] += 1
        if mus[0]["q"] * mus[1]["q"] >= 0:
            continue
        counts[1] += 1
        if mus[0]["pt"] <= 20:
            continue
        counts[2] += 1
        if not 61 < _mass(mus[0], mus[1]) < 121:
            continue
        counts[3] += 1
        jets = [{"eta": e["Jet_eta"][i], "phi": e["Jet_phi"][i]} for i in range(len(e["Jet_pt"]))
                if e["Jet_pt"][i] > 20 and abs(e["Jet_eta"][i]) < 2.5 and e["Jet_jetId"][i] & 2]
        clean = [j for j in jets if all(_dr(j, m) > 0.4 for m in mus)]
        if clean:
            counts[4] += 1
    return [counts[0], counts[1], counts[2], counts[3], counts[4]]


def test_dy_on_real_doublemuon_data_and_dy_mc(tmp_path: Path, samples: Path) -> None:
    results = run(tmp_path, selection={"name": "dy"}, data={"files": [str(samples / "nano_dimuon.root")]},
                  mc={"files": [str(samples / "nano_dy.root")]},
                  taggers=[{"stored": "deepcsv"}, {"stored": "deepjet"}])
    cuts = ["two isolated muons", "opposite sign", "leading muon pT > 20", "61 < m_ll < 121", ">= 1 clean jet"]
    flow = results["cutflow"]
    assert flow["data"] == {"all": 40, "trigger": 40, "two isolated muons": 4, "opposite sign": 4,
                            "leading muon pT > 20": 4, "61 < m_ll < 121": 4, ">= 1 clean jet": 1}
    assert flow["mc"] == {"all": 40, "trigger": 40, "two isolated muons": 4, "opposite sign": 4,
                          "leading muon pT > 20": 4, "61 < m_ll < 121": 4, ">= 1 clean jet": 3}
    assert [flow["data"][c] for c in cuts] == reference_dy(samples / "nano_dimuon.root")
    assert [flow["mc"][c] for c in cuts] == reference_dy(samples / "nano_dy.root")
    assert results["n_jets"] == {"data": 1, "mc": 3}  # the leading clean jet of each selected event
    for tagger in ("deepcsv", "deepjet"):
        kl = results["divergences"][tagger]["BvsL"]["raw"]["kl"]
        assert kl is not None and kl >= 0
        # one data jet: replicas give a (large) spread, but too few events for a significance
        stat = results["divergences"][tagger]["BvsL"]["raw"]["kl_stat"]
        assert stat["std"] > 0 and stat["events"] == 1.0 and stat["z"] is None and stat["replicas"] > 30
    assert any("no Jet_nBHadrons" in n for n in results["notes"])


def test_ttsemilep_on_real_nanoaod_v12(tmp_path: Path, samples: Path) -> None:
    results = run(tmp_path, selection={"name": "ttsemilep"}, mc={"files": [str(samples / "nano_tt_v12.root")]},
                  taggers=[{"stored": "deepjet"}])
    assert results["cutflow"]["mc"] == {"all": 200, "trigger": 200, "one isolated muon": 29,
                                        "no second isolated muon": 29, ">= 4 clean jets": 29, "MET > 50": 15}
    ev = uproot.open(samples / "nano_tt_v12.root")["Events"].arrays(
        ["Muon_pt", "Muon_eta", "Muon_tightId", "Muon_pfRelIso04_all", "MET_pt"])
    iso = (ev.Muon_pt > 30) & (abs(ev.Muon_eta) < 2.4) & ev.Muon_tightId & (ev.Muon_pfRelIso04_all < 0.15)
    assert int(ak.sum(ak.sum(iso, axis=1) == 1)) == 29
    # NanoAOD v12 has no btagDeepFlavC: C comes from CvsL and B (tested in test_datamc)
    hists = load_hists(Path(results["output"]))["hists"]["deepjet"]
    assert hists["CvsL"][{"kind": "mc", "variation": "raw"}].values().sum() != 0
    assert results["n_jets"]["mc"] == 4 * 15


def test_trained_tagger_on_real_pfnano_inputs(tmp_path: Path, samples: Path, tiny_run: Path) -> None:
    import torch

    from hepadv.runs import load_trained

    path = samples / "pfnano.root"
    results = run(tmp_path, selection={"name": "inclusive"}, mc={"files": [str(path)]},
                  taggers=[{"run": str(tiny_run), "variants": ["nominal"]}])
    model = load_trained(tiny_run, "nominal")
    branches = [n if n.startswith("Jet_") else f"Jet_{n}" for n in model.spec.names]
    ev = uproot.open(path)["Events"].arrays([*branches, "Jet_jetId", "genWeight"])
    good = (ev.Jet_pt > 20) & (abs(ev.Jet_eta) < 2.5) & ((ev.Jet_jetId & 2) > 0)
    raw = np.column_stack([ak.to_numpy(ak.flatten(ev[b][good])).astype(np.float32) for b in branches])
    weights = ak.to_numpy(ak.flatten(ak.broadcast_arrays(ev.genWeight, ev.Jet_pt)[0][good]))
    assert results["n_jets"]["mc"] == len(raw) > 0 and results["cutflow"]["mc"]["all"] == 10
    with torch.no_grad():
        probs = model.predict_proba(torch.as_tensor(model.spec.transform(raw))).numpy()
    h = load_hists(Path(results["output"]))["hists"]["nominal@best"]["b"]
    filled = h[{"kind": "mc", "variation": "raw"}].values().sum(axis=0)
    expected, _ = np.histogram(probs[:, 0], bins=h.axes["value"].edges, weights=weights)
    np.testing.assert_allclose(filled, expected, rtol=1e-6)


def test_real_bad_inputs_are_named(tmp_path: Path, samples: Path) -> None:
    def dy(mc: list[str], data: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        card = {"selection": {"name": "dy"}, "mc": {"files": [str(samples / f) for f in mc]},
                "taggers": [{"stored": "deepcsv"}], **extra}
        if data:
            card["data"] = {"files": [str(samples / f) for f in data]}
        return run(tmp_path, **card)

    empty = samples / "nano_dy_empty.root"
    with pytest.raises(DataError, match=f"{empty}: tree 'Events' has no events"):
        dy(["nano_dy_empty.root"])
    with pytest.raises(DataError, match=f"{samples / 'nano_dimuon.root'} is given as MC but has no 'genWeight'"):
        dy(["nano_dimuon.root"])
    rntuple = samples / "nano_dy_SpecialTree_rntuple.root"
    with pytest.raises(DataError, match="'NotEvents' is a ROOT::RNTuple, not a TTree"):
        run(tmp_path, selection={"name": "dy"}, mc={"files": [str(rntuple)], "tree": "NotEvents"},
            taggers=[{"stored": "deepcsv"}])
    # a tree with another name is read when the card names it; the cutflow is that of nano_dy.root
    special = run(tmp_path, selection={"name": "dy"},
                  mc={"files": [str(samples / "nano_dy_SpecialTree.root")], "tree": "NotEvents"},
                  taggers=[{"stored": "deepcsv"}])
    assert special["cutflow"]["mc"][">= 1 clean jet"] == 3
    skipped = dy(["nano_dy_empty.root", "nano_dy.root"], ["nano_dimuon.root"], skip_bad_files=True)
    assert len(skipped["skipped_files"]) == 1 and "nano_dy_empty.root" in skipped["skipped_files"][0]
    assert skipped["cutflow"]["mc"]["all"] == 40
