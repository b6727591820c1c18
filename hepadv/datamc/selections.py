"""Flavour-enriched Data/MC selections in the muon channel (thesis app. A.5, BTV commissioning).

Each selection is a registered component whose ``select(events)`` is a pure function of a NanoEvents chunk:
it returns the event mask, the jets to histogram, a per-event sign (the W+c OS-SS subtraction), the cutflow
and the values of its kinematic control plots. Cuts live in ``Params`` (the card); the defaults are the issue's:

* ``dy`` (light-enriched): exactly two tight isolated muons (|eta| < 2.4, iso < 0.15, pT > 12 GeV), opposite
  charge, leading pT > 20 GeV, 61 < m_ll < 121 GeV; jets (pT > 20, |eta| < 2.5, tight ID) cleaned against both
  muons with dR > 0.4; at least one; the leading clean jet is histogrammed (as BTV's DY workflow).
* ``wc`` (c-enriched): exactly one tight isolated muon with pT > 30 GeV, no second isolated muon, transverse
  mass with MET > 50 GeV; 1-3 jets cleaned against it (dR > 0.5); a soft non-isolated muon (pT < 25 GeV,
  iso > 0.2, tight ID) within dR < 0.4 of a jet carrying < 40 % of its pT; m(mu, soft mu) > 12 GeV outside
  80-100 GeV. That muon jet is histogrammed with weight +1 when the muons have opposite sign, -1 when the same
  sign: OS - SS removes the charge-symmetric background (gluon splitting, light fakes).
* ``inclusive``: every good jet (pT > 20, |eta| < 2.5, tight ID) of every event, to check a tagger on any file.
* ``ttsemilep`` (b-enriched): exactly one tight isolated muon with pT > 30 GeV, no other isolated muon with
  pT > 15 GeV, at least four clean jets with pT > 25 GeV, MET > 50 GeV; the four leading jets are histogrammed.

NanoAOD versions differ: ``check_fields`` names what a file lacks before any chunk is read, and falls back to
``PuppiMET`` where ``MET_pt`` is gone (NanoAOD v15); without ``Jet_jetId`` (also v15) it says so and the card
can set ``jet_id: false``. Triggers are an optional OR of ``HLT_*`` bits (toy files have none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from hepadv.components import Component, ComponentParams
from hepadv.errors import DataError

MUON_BRANCHES = ("Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "Muon_tightId",
                 "Muon_pfRelIso04_all")
JET_BRANCHES = ("Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass")
MET_COLLECTIONS = ("MET", "PuppiMET")


@dataclass
class Selected:
    """What a selection hands the processor for one chunk.

    ``mask``: (n_events,) bool; ``jets``: jagged jets of the selected events (len = mask.sum());
    ``sign``: (n_selected,) +1 / -1 event weight factor (OS-SS); ``cutflow``: cut -> events passing so far;
    ``controls``: control-plot variable -> (values, per-value event index into the selected events).
    """

    mask: np.ndarray
    jets: Any
    sign: np.ndarray
    cutflow: dict[str, int]
    controls: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


class SelectionParams(ComponentParams):
    muon_eta_max: float = Field(2.4, gt=0)
    muon_iso_max: float = Field(0.15, gt=0, description="pfRelIso04_all of an isolated muon")
    jet_pt_min: float = Field(20.0, ge=0)
    jet_eta_max: float = Field(2.5, gt=0)
    jet_id: bool = Field(True, description="require tight jet ID (Jet_jetId bit 2); NanoAOD v15 has no Jet_jetId")
    met: str = Field("auto", description="MET collection: auto (MET, else PuppiMET), MET or PuppiMET")
    triggers: list[str] = Field(default_factory=list, description="HLT_* bits, OR-ed; empty: no trigger cut")


class Selection(Component):
    """Base: ``select(events) -> Selected``; subclasses implement ``_select`` on NanoEvents."""

    name: ClassVar[str]
    Params: ClassVar[type[SelectionParams]] = SelectionParams
    #: Control variables this selection fills (axes declared in ``hepadv.datamc.histograms``).
    controls: ClassVar[tuple[str, ...]] = ()
    uses_met: ClassVar[bool] = True

    def __init__(self, params: Any = None) -> None:
        self.params = self.parse_params(params)

    # ------------------------------------------------------------------ fields and NanoAOD versions
    def required_branches(self) -> list[str]:
        p = self.params
        branches = [*MUON_BRANCHES, *JET_BRANCHES, *p.triggers]
        if p.jet_id:
            branches.append("Jet_jetId")
        return branches

    def met_collection(self, keys: set[str]) -> str | None:
        """The MET collection a file provides, following ``params.met``."""
        if not self.uses_met:
            return None
        wanted = MET_COLLECTIONS if self.params.met == "auto" else (self.params.met,)
        for name in wanted:
            if f"{name}_pt" in keys and f"{name}_phi" in keys:
                return name
        return None

    def check_fields(self, keys: set[str], where: str) -> list[str]:
        """DataError naming the first missing branch; returns notes on version fallbacks it applied."""
        notes: list[str] = []
        missing = [b for b in self.required_branches() if b not in keys]
        if missing:
            hint = ""
            if missing[0] == "Jet_jetId":
                hint = " (NanoAOD v15 dropped it; set jet_id: false in the selection params to run without the cut)"
            elif missing[0].startswith("HLT_"):
                hint = " (trigger bits differ between years and NanoAOD versions; adjust triggers in the card)"
            raise DataError(f"{where}: branch {missing[0]!r} needed by selection {self.name!r} is missing{hint}")
        if self.uses_met:
            met = self.met_collection(keys)
            if met is None:
                raise DataError(f"{where}: selection {self.name!r} needs MET: no "
                                + " or ".join(f"{m}_pt/{m}_phi" for m in
                                              (MET_COLLECTIONS if self.params.met == "auto" else (self.params.met,)))
                                + " branches")
            if met != "MET" and self.params.met == "auto":
                notes.append(f"{where}: no MET_pt, using {met}_pt (newer NanoAOD)")
        return notes

    # ------------------------------------------------------------------ selection
    def select(self, events: Any) -> Selected:
        return self._select(events)

    def _select(self, events: Any) -> Selected:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared object definitions
    def isolated_muons(self, events: Any, pt_min: float) -> Any:
        p = self.params
        mu = events.Muon
        good = (mu.pt > pt_min) & (abs(mu.eta) < p.muon_eta_max) & mu.tightId & (mu.pfRelIso04_all < p.muon_iso_max)
        return mu[good]

    def good_jets(self, events: Any, pt_min: float | None = None) -> Any:
        p = self.params
        jets = events.Jet
        good = (jets.pt > (p.jet_pt_min if pt_min is None else pt_min)) & (abs(jets.eta) < p.jet_eta_max)
        if p.jet_id:
            good = good & ((jets.jetId & 2) > 0)
        return jets[good]

    def trigger_mask(self, events: Any) -> np.ndarray:
        if not self.params.triggers:
            return np.ones(len(events), dtype=bool)
        ok = np.zeros(len(events), dtype=bool)
        for t in self.params.triggers:
            ok |= _np(events.HLT[t.removeprefix("HLT_")])
        return ok

    def met(self, events: Any) -> Any:
        fields = set(events.fields)
        name = next(m for m in (MET_COLLECTIONS if self.params.met == "auto" else (self.params.met,))
                    if m in fields)
        return events[name]


def clean(jets: Any, objects: Any, dr_min: float) -> Any:
    """Jets farther than ``dr_min`` from every object (per event; no objects keeps all jets)."""
    import awkward as ak

    dr = jets.metric_table(objects)  # (event, jet, object)
    return jets[ak.all(dr > dr_min, axis=2)]


def _np(a: Any) -> np.ndarray:
    import awkward as ak

    return ak.to_numpy(ak.fill_none(a, False)).astype(bool) if a.ndim == 1 else ak.to_numpy(a)


def _pair_mass(a: Any, b: Any) -> Any:
    """Invariant mass of two massive objects given (pt, eta, phi, mass) (numpy or awkward, per event)."""
    def comps(o: Any) -> tuple[Any, Any, Any, Any]:
        px, py, pz = o.pt * np.cos(o.phi), o.pt * np.sin(o.phi), o.pt * np.sinh(o.eta)
        return np.sqrt(px**2 + py**2 + pz**2 + o.mass**2), px, py, pz

    ea, xa, ya, za = comps(a)
    eb, xb, yb, zb = comps(b)
    m2 = (ea + eb) ** 2 - (xa + xb) ** 2 - (ya + yb) ** 2 - (za + zb) ** 2
    return np.sqrt(np.maximum(m2, 0.0))


class _Cutflow:
    """Cumulative event masks in order; ``counts`` is the cutflow table."""

    def __init__(self, n: int) -> None:
        self.mask = np.ones(n, dtype=bool)
        self.counts: dict[str, int] = {"all": n}

    def add(self, name: str, passed: Any) -> None:
        self.mask = self.mask & _np(passed)
        self.counts[name] = int(self.mask.sum())


class DrellYan(Selection):
    """Z(mu mu) + jets: light-flavour enriched (DoubleMuon data)."""

    name: ClassVar[str] = "dy"
    controls: ClassVar[tuple[str, ...]] = ("m_ll", "pt_ll", "mu1_pt", "mu2_pt", "n_jets", "jet_pt", "jet_eta")
    uses_met: ClassVar[bool] = False

    class Params(SelectionParams):
        lead_muon_pt: float = Field(20.0, ge=0)
        sublead_muon_pt: float = Field(12.0, ge=0)
        mll_min: float = Field(61.0, ge=0)
        mll_max: float = Field(121.0, gt=0)
        jet_muon_dr: float = Field(0.4, ge=0)
        jets: str = Field("leading", pattern="^(leading|all)$", description="histogram the leading clean jet or all")

    def _select(self, events: Any) -> Selected:
        import awkward as ak

        p = self.params
        cf = _Cutflow(len(events))
        cf.add("trigger", self.trigger_mask(events))
        mu = self.isolated_muons(events, p.sublead_muon_pt)
        cf.add("two isolated muons", ak.num(mu) == 2)
        mu2 = ak.pad_none(mu, 2)
        m1, m2 = mu2[:, 0], mu2[:, 1]
        cf.add("opposite sign", m1.charge * m2.charge < 0)
        cf.add(f"leading muon pT > {p.lead_muon_pt:g}", m1.pt > p.lead_muon_pt)
        mll = _pair_mass(m1, m2)
        cf.add(f"{p.mll_min:g} < m_ll < {p.mll_max:g}", (mll > p.mll_min) & (mll < p.mll_max))
        jets = clean(self.good_jets(events), mu, p.jet_muon_dr)
        cf.add(">= 1 clean jet", ak.num(jets) >= 1)
        sel = cf.mask
        jets = jets[sel]
        picked = jets[:, :1] if p.jets == "leading" else jets
        s1, s2 = m1[sel], m2[sel]
        px = s1.pt * np.cos(s1.phi) + s2.pt * np.cos(s2.phi)
        py = s1.pt * np.sin(s1.phi) + s2.pt * np.sin(s2.phi)
        controls = _event_controls({"m_ll": mll[sel], "pt_ll": np.hypot(px, py), "mu1_pt": s1.pt, "mu2_pt": s2.pt,
                                    "n_jets": ak.num(jets)})
        controls.update(_jet_controls(picked))
        return Selected(sel, picked, np.ones(int(sel.sum())), cf.counts, controls)


class WPlusCharm(Selection):
    """W(mu nu) + c with a soft muon in the c jet; OS - SS subtraction (SingleMuon data)."""

    name: ClassVar[str] = "wc"
    controls: ClassVar[tuple[str, ...]] = ("mu1_pt", "soft_mu_pt", "mt_w", "m_mumu", "met_pt", "n_jets", "jet_pt",
                                           "jet_eta")

    class Params(SelectionParams):
        muon_pt: float = Field(30.0, ge=0)
        veto_muon_pt: float = Field(12.0, ge=0, description="any other isolated muon above this vetoes the event")
        mt_min: float = Field(50.0, ge=0, description="transverse mass of muon and MET")
        jet_muon_dr: float = Field(0.5, ge=0)
        min_jets: int = Field(1, ge=1)
        max_jets: int = Field(3, ge=1)
        soft_muon_pt_max: float = Field(25.0, gt=0)
        soft_muon_iso_min: float = Field(0.2, ge=0)
        soft_muon_jet_dr: float = Field(0.4, gt=0)
        soft_muon_pt_ratio_max: float = Field(0.4, gt=0, description="pT(soft mu) / pT(jet)")
        mumu_min: float = Field(12.0, ge=0)
        z_veto: tuple[float, float] = (80.0, 100.0)

    def _select(self, events: Any) -> Selected:
        import awkward as ak

        p = self.params
        cf = _Cutflow(len(events))
        cf.add("trigger", self.trigger_mask(events))
        hard = self.isolated_muons(events, p.muon_pt)
        cf.add("one isolated muon", ak.num(hard) == 1)
        cf.add("no second isolated muon", ak.num(self.isolated_muons(events, p.veto_muon_pt)) == 1)
        mu = ak.pad_none(hard, 1)[:, 0]
        met = self.met(events)
        mt = np.sqrt(np.maximum(2 * mu.pt * met.pt * (1 - np.cos(mu.phi - met.phi)), 0.0))
        cf.add(f"mT > {p.mt_min:g}", mt > p.mt_min)
        jets = clean(self.good_jets(events), hard, p.jet_muon_dr)
        cf.add(f"{p.min_jets}-{p.max_jets} clean jets", (ak.num(jets) >= p.min_jets) & (ak.num(jets) <= p.max_jets))
        m = events.Muon
        soft = m[(m.pt < p.soft_muon_pt_max) & (abs(m.eta) < p.muon_eta_max) & m.tightId
                 & (m.pfRelIso04_all > p.soft_muon_iso_min)]
        cf.add("soft muon", ak.num(soft) >= 1)
        s0 = ak.pad_none(soft, 1)[:, 0]
        # jets holding the leading soft muon, carrying > 1/ratio of its pT; the first (highest pT) is the muon jet
        dr = jets.delta_r(s0)
        holds = ak.fill_none((dr < p.soft_muon_jet_dr) & (s0.pt / jets.pt < p.soft_muon_pt_ratio_max), False)
        mujets = jets[holds]
        cf.add("jet with the soft muon", ak.num(mujets) >= 1)
        mmm = _pair_mass(mu, s0)
        cf.add(f"m(mu, soft mu) > {p.mumu_min:g}, Z veto",
               (mmm > p.mumu_min) & ((mmm < p.z_veto[0]) | (mmm > p.z_veto[1])))
        sel = cf.mask
        sign = np.where(_np(mu.charge[sel] * s0.charge[sel] < 0), 1.0, -1.0)
        cf.counts["opposite sign"] = int((sign > 0).sum())
        cf.counts["same sign"] = int((sign < 0).sum())
        picked = mujets[sel][:, :1]
        controls = _event_controls({"mu1_pt": mu.pt[sel], "soft_mu_pt": s0.pt[sel], "mt_w": mt[sel],
                                    "m_mumu": mmm[sel], "met_pt": met.pt[sel], "n_jets": ak.num(jets[sel])})
        controls.update(_jet_controls(picked))
        return Selected(sel, picked, sign, cf.counts, controls)


class TTSemiLeptonic(Selection):
    """Semileptonic ttbar in the muon channel: b-enriched (SingleMuon data)."""

    name: ClassVar[str] = "ttsemilep"
    controls: ClassVar[tuple[str, ...]] = ("mu1_pt", "met_pt", "n_jets", "jet_pt", "jet_eta")

    class Params(SelectionParams):
        muon_pt: float = Field(30.0, ge=0)
        veto_muon_pt: float = Field(15.0, ge=0)
        jet_pt_min: float = Field(25.0, ge=0)
        jet_muon_dr: float = Field(0.4, ge=0)
        min_jets: int = Field(4, ge=1)
        met_min: float = Field(50.0, ge=0)
        n_jets_hist: int = Field(4, ge=1, description="histogram this many leading clean jets")

    def _select(self, events: Any) -> Selected:
        import awkward as ak

        p = self.params
        cf = _Cutflow(len(events))
        cf.add("trigger", self.trigger_mask(events))
        hard = self.isolated_muons(events, p.muon_pt)
        cf.add("one isolated muon", ak.num(hard) == 1)
        cf.add("no second isolated muon", ak.num(self.isolated_muons(events, p.veto_muon_pt)) == 1)
        jets = clean(self.good_jets(events), hard, p.jet_muon_dr)
        cf.add(f">= {p.min_jets} clean jets", ak.num(jets) >= p.min_jets)
        met = self.met(events)
        cf.add(f"MET > {p.met_min:g}", met.pt > p.met_min)
        sel = cf.mask
        picked = jets[sel][:, : p.n_jets_hist]
        controls = _event_controls({"mu1_pt": ak.pad_none(hard, 1)[:, 0].pt[sel], "met_pt": met.pt[sel],
                                    "n_jets": ak.num(jets[sel])})
        controls.update(_jet_controls(picked))
        return Selected(sel, picked, np.ones(int(sel.sum())), cf.counts, controls)


class Inclusive(Selection):
    """Every good jet of every event (no event cut): checks a tagger on any file, e.g. PFNano inputs."""

    name: ClassVar[str] = "inclusive"
    controls: ClassVar[tuple[str, ...]] = ("n_jets", "jet_pt", "jet_eta")
    uses_met: ClassVar[bool] = False

    def required_branches(self) -> list[str]:
        return [b for b in super().required_branches() if not b.startswith("Muon_")]

    def _select(self, events: Any) -> Selected:
        import awkward as ak

        cf = _Cutflow(len(events))
        cf.add("trigger", self.trigger_mask(events))
        jets = self.good_jets(events)
        cf.add(">= 1 good jet", ak.num(jets) >= 1)
        sel = cf.mask
        picked = jets[sel]
        controls = _event_controls({"n_jets": ak.num(picked)})
        controls.update(_jet_controls(picked))
        return Selected(sel, picked, np.ones(int(sel.sum())), cf.counts, controls)


def _event_controls(values: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import awkward as ak

    out = {}
    for k, v in values.items():
        arr = ak.to_numpy(ak.fill_none(v, np.nan)).astype(np.float64)
        out[k] = (arr, np.arange(len(arr)))
    return out


def _jet_controls(jets: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import awkward as ak

    index = np.repeat(np.arange(len(jets)), ak.to_numpy(ak.num(jets)))
    return {f"jet_{v}": (ak.to_numpy(ak.flatten(jets[v])).astype(np.float64), index) for v in ("pt", "eta")}
