"""Each selection on hand-built events selects exactly the expected events and jets; OS-SS on known counts."""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from hepadv import get_selection
from hepadv.errors import DataError, UnknownComponentError
from tests.datamc_events import jet, mu, read_events, write_events


def selection(name: str, **params: object):  # type: ignore[no-untyped-def]
    return get_selection(name)(params)


# ----------------------------------------------------------------------------- Drell-Yan
DY_EVENTS = [
    # 0: passes; jet 0 sits on the mu+ and is cleaned, jet 1 (45 GeV) is the leading clean jet
    {"muons": [mu(40, 0, 0, +1), mu(30, 0.5, 2.5, -1)],
     "jets": [jet(50, 0.0, 0.0), jet(45, 1.0, -1.5), jet(25, -1.0, 1.0)]},
    # 1: same sign
    {"muons": [mu(40, 0, 0, +1), mu(30, 0.5, 2.5, +1)], "jets": [jet(45, 1.0, -1.5)]},
    # 2: three isolated muons
    {"muons": [mu(40, 0, 0, +1), mu(30, 0.5, 2.5, -1), mu(15, -1, 1, -1)], "jets": [jet(45, 1.0, -1.5)]},
    # 3: second muon not isolated
    {"muons": [mu(40, 0, 0, +1), mu(30, 0.5, 2.5, -1, iso=0.3)], "jets": [jet(45, 1.0, -1.5)]},
    # 4: m_ll ~ 17 GeV
    {"muons": [mu(40, 0, 0, +1), mu(30, 0, 0.5, -1)], "jets": [jet(45, 1.0, -1.5)]},
    # 5: leading muon below 20 GeV
    {"muons": [mu(18, 0, 0, +1), mu(15, 0.3, 3.0, -1)], "jets": [jet(45, 1.0, -1.5)]},
    # 6: only jet fails the tight jet ID
    {"muons": [mu(40, 0, 0, +1), mu(30, 0.5, 2.5, -1)], "jets": [jet(45, 1.0, -1.5, jet_id=1)]},
    # 7: jets below 20 GeV or outside |eta| < 2.5
    {"muons": [mu(40, 0, 0, +1), mu(30, 0.5, 2.5, -1)], "jets": [jet(30, 2.7, -1.5), jet(19, 0.0, -1.5)]},
    # 8: passes with two clean jets
    {"muons": [mu(35, -0.2, 1.0, -1), mu(35, 0.2, -2.0, +1)], "jets": [jet(80, 0.3, 0.0), jet(22, -2.0, 2.9)]},
]


@pytest.fixture(scope="module")
def dy_events(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return read_events(write_events(tmp_path_factory.mktemp("sel") / "dy.root", DY_EVENTS))


def test_dy_selects_exactly_the_expected_events_and_jets(dy_events) -> None:  # type: ignore[no-untyped-def]
    out = selection("dy").select(dy_events)
    assert np.flatnonzero(out.mask).tolist() == [0, 8]
    assert ak.to_list(out.jets.pt) == [[45.0], [80.0]]  # leading clean jet only
    assert out.cutflow == {"all": 9, "trigger": 9, "two isolated muons": 7, "opposite sign": 6,
                           "leading muon pT > 20": 5, "61 < m_ll < 121": 4, ">= 1 clean jet": 2}
    np.testing.assert_array_equal(out.sign, [1.0, 1.0])
    m_ll = out.controls["m_ll"][0]
    assert m_ll[0] == pytest.approx(math.sqrt(2 * 40 * 30 * (math.cosh(0.5) - math.cos(2.5))), rel=1e-3)
    assert out.controls["n_jets"][0].tolist() == [2, 2]


def test_dy_all_clean_jets_and_looser_mass_window(dy_events) -> None:  # type: ignore[no-untyped-def]
    out = selection("dy", jets="all", mll_min=10.0).select(dy_events)
    assert np.flatnonzero(out.mask).tolist() == [0, 4, 8]
    assert ak.to_list(out.jets.pt) == [[45.0, 25.0], [45.0], [80.0, 22.0]]


def test_dy_without_jet_id(dy_events) -> None:  # type: ignore[no-untyped-def]
    assert np.flatnonzero(selection("dy", jet_id=False).select(dy_events).mask).tolist() == [0, 6, 8]


# ----------------------------------------------------------------------------- W + c
def _wc(soft_q: int, **change: object) -> dict[str, object]:
    ev: dict[str, object] = {
        "muons": [mu(40, 0, 0, +1), mu(5, 1.05, 2.05, soft_q, iso=0.5)],
        "jets": [jet(30, 1.0, 2.0)],
        "met": (40.0, math.pi),
    }
    ev.update(change)
    return ev


WC_EVENTS = [
    _wc(-1),  # 0: OS
    _wc(+1),  # 1: SS
    _wc(-1, muons=[mu(40, 0, 0, +1), mu(20, -1, -2, -1), mu(5, 1.05, 2.05, -1, iso=0.5)]),  # 2: second iso muon
    _wc(-1, met=(40.0, 0.0)),  # 3: mT = 0
    _wc(-1, muons=[mu(40, 0, 0, +1), mu(5, -1.0, 2.05, -1, iso=0.5)]),  # 4: soft muon outside the jet
    _wc(-1, jets=[jet(40, 1.0, 2.0), jet(60, -1.5, -2.0)]),  # 5: OS, muon jet is not the leading jet
    _wc(+1, jets=[jet(10, 1.0, 2.0)]),  # 6: the muon jet fails the jet pT cut
    _wc(-1, jets=[jet(11, 1.0, 2.0, jet_id=6), jet(30, 1.0, 2.0)]),  # 7: OS (a soft jet overlaps, pT cut)
]


def test_wc_selection_and_opposite_minus_same_sign(tmp_path: Path) -> None:
    events = read_events(write_events(tmp_path / "wc.root", WC_EVENTS))
    out = selection("wc").select(events)
    assert np.flatnonzero(out.mask).tolist() == [0, 1, 5, 7]
    assert ak.to_list(out.jets.pt) == [[30.0], [30.0], [40.0], [30.0]]
    np.testing.assert_array_equal(out.sign, [1.0, -1.0, 1.0, 1.0])
    assert out.cutflow["opposite sign"] == 3 and out.cutflow["same sign"] == 1
    assert float(out.sign.sum()) == 2.0  # OS - SS
    assert out.cutflow["one isolated muon"] == 8
    assert out.cutflow["no second isolated muon"] == 7
    assert out.cutflow["mT > 50"] == 6
    assert out.cutflow["1-3 clean jets"] == 5
    assert out.cutflow["jet with the soft muon"] == 4


def test_os_minus_ss_on_known_counts(tmp_path: Path) -> None:
    """7 OS and 3 SS copies of the same event: the signed sum is 4, the histogram holds 4 jets net."""
    from hepadv.datamc.histograms import output_hist, per_jet

    events = read_events(write_events(tmp_path / "osss.root", [_wc(-1)] * 7 + [_wc(+1)] * 3))
    out = selection("wc").select(events)
    assert out.cutflow["opposite sign"] == 7 and out.cutflow["same sign"] == 3
    weights = per_jet(out.sign, out.jets)
    h = output_hist()
    h.fill(kind="mc", variation="raw", flavour="c", value=np.full(len(weights), 0.5), weight=weights)
    assert h.sum().value == pytest.approx(4.0)
    assert h.sum().variance == pytest.approx(10.0)  # each jet still adds w^2 = 1 to the variance


# ----------------------------------------------------------------------------- semileptonic ttbar
def _tt(**change: object) -> dict[str, object]:
    ev: dict[str, object] = {
        "muons": [mu(40, 0, 0, -1)],
        "jets": [jet(120, 1.0, 1.0), jet(90, -1.0, 2.0), jet(60, 0.5, -2.0), jet(30, -0.5, -1.0)],
        "met": (60.0, 2.0),
    }
    ev.update(change)
    return ev


TT_EVENTS = [
    _tt(),  # 0: passes
    _tt(jets=[jet(120, 1.0, 1.0), jet(90, -1.0, 2.0), jet(60, 0.5, -2.0)]),  # 1: three jets
    _tt(met=(30.0, 2.0)),  # 2: MET too low
    _tt(muons=[mu(40, 0, 0, -1), mu(20, 1.5, 2.5, +1)]),  # 3: second isolated muon
    _tt(jets=[jet(200, 0.1, 0.1), jet(120, 1.0, 1.0), jet(90, -1.0, 2.0), jet(60, 0.5, -2.0), jet(30, -0.5, -1.0)]),
    _tt(jets=[jet(120, 1.0, 1.0), jet(90, -1.0, 2.0), jet(60, 0.5, -2.0), jet(24, -0.5, -1.0)]),  # 5: 4th jet < 25
]


def test_ttsemilep_selects_expected_events_and_four_leading_clean_jets(tmp_path: Path) -> None:
    events = read_events(write_events(tmp_path / "tt.root", TT_EVENTS))
    out = selection("ttsemilep").select(events)
    assert np.flatnonzero(out.mask).tolist() == [0, 4]
    assert ak.to_list(out.jets.pt) == [[120.0, 90.0, 60.0, 30.0], [120.0, 90.0, 60.0, 30.0]]  # 200 GeV jet = muon
    assert out.cutflow == {"all": 6, "trigger": 6, "one isolated muon": 6, "no second isolated muon": 5,
                           ">= 4 clean jets": 3, "MET > 50": 2}


# ----------------------------------------------------------------------------- fields and versions
def test_missing_branches_are_named() -> None:
    keys = {"Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "Muon_tightId", "Muon_pfRelIso04_all",
            "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_jetId", "PuppiMET_pt", "PuppiMET_phi"}
    notes = selection("ttsemilep").check_fields(keys, "f.root")
    assert notes == ["f.root: no MET_pt, using PuppiMET_pt (newer NanoAOD)"]
    with pytest.raises(DataError, match=r"f\.root: selection 'ttsemilep' needs MET: no MET_pt/MET_phi"):
        selection("ttsemilep", met="MET").check_fields(keys, "f.root")
    with pytest.raises(DataError, match=r"branch 'Jet_jetId' needed by selection 'dy' is missing \(NanoAOD v15"):
        selection("dy").check_fields(keys - {"Jet_jetId"}, "f.root")
    assert selection("dy", jet_id=False).check_fields(keys - {"Jet_jetId"}, "f.root") == []
    with pytest.raises(DataError, match="branch 'HLT_IsoMu24'"):
        selection("wc", triggers=["HLT_IsoMu24"]).check_fields(keys, "f.root")


def test_puppi_met_is_used_when_met_is_absent(tmp_path: Path) -> None:
    events = read_events(write_events(tmp_path / "tt.root", [_tt(), _tt(met=(30.0, 2.0))], met="PuppiMET"))
    assert selection("ttsemilep").select(events).mask.tolist() == [True, False]


def test_unknown_selection_lists_known_ones() -> None:
    with pytest.raises(UnknownComponentError, match="valid names: dy, inclusive, ttsemilep, wc"):
        get_selection("zz")
