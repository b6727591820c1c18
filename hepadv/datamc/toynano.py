"""``toynano``: NanoAOD-like Data and MC ROOT files for each Data/MC selection topology.

Why: the Data/MC study (thesis app. A.5) needs muons, jets with the 67 ``Jet_DeepCSV_*`` inputs, MET and
truth in MC; real NanoAOD has no DeepCSV inputs and the small real files hold 40 events. These files let
``hepadv datamc`` run anywhere, at any size, with a known answer.

Topologies (muon channel):

* ``dy``: Z -> mu mu (Breit-Wigner mass, exponential pT, isotropic decay boosted to the lab) + Poisson
  jets from a light-enriched pool;
* ``wc``: a W muon, MET, one c-enriched jet with a soft non-isolated muon inside (dR < 0.4). The soft muon
  has the opposite charge of the W muon for 85 % of true c jets and 50 % otherwise, so OS - SS enriches c;
* ``ttsemilep``: one muon, MET, two b-enriched jets, two jets from the hadronic W, extra jets; each jet is
  lost with 12 % probability, so some events have fewer than four.

Jets come from ``hepadv.data.toyjets`` (flavour-dependent physics, Jet_pt/Jet_eta included) and are written
by ``hepadv.data.toynano.jet_columns`` (-999 placeholders, int32 counts, PFNano layout), plus Jet_phi,
Jet_mass, Jet_jetId; MC also gets Jet_hadronFlavour, Jet_nBHadrons and ``genWeight`` (+-1, 5 % negative
as in NLO samples). A fraction of muons fail tightId or isolation, so every cut of the selections acts.

"Data" is the same simulation with another seed, no truth and no genWeight, and documented data/MC
differences (``EFFECTS``), each named after what it is physically, with a size (0: none). With all sizes
0 data and MC differ only by statistics:

* ``ip_scale`` (the original toy mismodelling, ``mismodelling`` in old cards): every chosen input
  (``mismodelled``, default the three leading tracks' 2D and 3D IP significances) x (1 + size).
* ``ip_resolution``: the resolution-driven part of every track's 2D and 3D IP significance x (1 + size)
  (``toyjets.Response.ip_noise``); everything computed from them (values, ordering, vertices) follows.
* ``track_multiplicity``: the mean number of prompt fragmentation tracks x (1 + size)
  (``toyjets.Response.prompt_tracks``): track counts, track-based inputs and vertex finding follow.
* ``sv_mass``: the secondary-vertex mass (``Jet_DeepCSV_vertexMass``, where a vertex exists) x (1 + size).
* ``pv_pull``: the planted fragile feature of ``toyjets`` (the longitudinal PV pull of heavy-flavour
  tracks, seen only in 3D - 2D significance differences) x (1 + size) in data: the information the main
  job's adversarial model gives up. Size -1 is data without it.

The default sizes (``Effect.default``) and the reasons for them are in ``EFFECTS``; they were fixed
from what each effect is before any Data/MC result was seen. The Data/MC distance of a tagger that uses
the touched inputs grows with the size (tested for ``ip_scale``).

Files are TTrees written with ``mktree`` + ``extend`` in blocks (as real NanoAOD; RNTuple reading was
measured 30x slower in coffea), cached under ``<cache>/toynano/<key>/`` keyed by all parameters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hepadv.bounds import MAX_GENERATED
from hepadv.data.deepcsv_features import FEATURES, INTEGER_FEATURES, PLACEHOLDER
from hepadv.data.toyjets import PV_PULL, Response, generate_toyjets
from hepadv.data.toynano import jet_columns
from hepadv.io import atomic_path
from hepadv.paths import cache_dir

#: Bump when the generated content changes, so stale cached files are not reused.
TOYNANO_VERSION = 1
TOPOLOGIES: tuple[str, ...] = ("dy", "wc", "ttsemilep")
#: Events generated and written per block (bounds memory; one TTree basket set per block).
BLOCK = 100_000
#: Default mismodelled inputs: the leading tracks' impact-parameter significances, what b/c taggers use most.
DEFAULT_MISMODELLED: tuple[str, ...] = tuple(
    f"Jet_DeepCSV_{p}_{k}" for p in ("trackSip2dSig", "trackSip3dSig") for k in range(3)
)


@dataclass(frozen=True)
class Effect:
    """One named data/MC difference: its default size, what it touches, and why that size."""

    default: float
    touches: str
    why: str
    minimum: float = -1.0


EFFECTS: dict[str, Effect] = {
    "ip_scale": Effect(
        0.1, "the `mismodelled` inputs (default: the 3 leading tracks' trackSip2dSig and trackSip3dSig), x (1 + size)",
        "the original toy mismodelling (card field `mismodelling`), kept so that old cards still run; a scale "
        "of significances is what a mis-scaled track error would give, its size was not derived from data"),
    "ip_resolution": Effect(
        0.10, "every track's 2D and 3D IP significance (its resolution-driven part x (1 + size)), hence the "
        "IP values, track ordering, vertex finding and the above-charm track",
        "the impact-parameter resolution of the CMS tracker in data is worse than in simulation by up to "
        "about 10 % (misalignment, material), which is why analyses smear or recalibrate IP significances "
        "in simulation; 10 % is that size"),
    "track_multiplicity": Effect(
        0.05, "the number of prompt (fragmentation) tracks per jet, x (1 + size) on its mean, and every "
        "track-based input through it (counts, leading tracks, track pT sums, vertices)",
        "PYTHIA 8 tunes describe the mean charged-particle multiplicity in jets to within about 5-10 % "
        "(ATLAS and CMS charged-multiplicity-in-jets measurements); 5 % is the lower end of that range"),
    "sv_mass": Effect(
        -0.02, "Jet_DeepCSV_vertexMass where a (pseudo-)vertex exists, x (1 + size)",
        "the vertex mass is a sum over the vertex's charged tracks: the track momentum scale is known to "
        "0.1 %, but data/simulation differences of 1-3 % per track in tracking efficiency drop tracks "
        "from vertices in data; -2 % is that size, and its sign (data lower) is that of a lost track"),
    "pv_pull": Effect(
        -1.0, "the 3D IP significances of heavy-flavour jets' tracks (toyjets `pv_pull` x (1 + size)), "
        "seen only in 3D - 2D differences",
        "the planted fragile feature is a simulation construct that no control measurement constrains; "
        "-1 is data without it, the question a tagger relying on it must face"),
}
_COL = {n: j for j, n in enumerate(FEATURES)}
_M_MU = 0.1057
_M_Z, _W_Z = 91.1876, 2.4952
# DeepCSV class fractions (b, bb, c, udsg) of each jet pool.
_LIGHT = (0.04, 0.01, 0.10, 0.85)
_CHARM = (0.12, 0.03, 0.55, 0.30)
_BJETS = (0.82, 0.08, 0.05, 0.05)
_WJETS = (0.02, 0.01, 0.40, 0.57)


def check_effects(effects: dict[str, float]) -> None:
    """ValueError (one line) for an unknown effect name or a size below the effect's minimum."""
    for name, size in effects.items():
        if name not in EFFECTS:
            raise ValueError(f"unknown effect {name!r}; known: {', '.join(EFFECTS)}")
        if not size >= EFFECTS[name].minimum:
            raise ValueError(f"effect {name!r} needs a size >= {EFFECTS[name].minimum:g}, got {size!r}")


class ToyNanoParams(BaseModel):
    """What a toynano sample pair (data, MC) depends on; every field enters the cache key."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    topology: Literal["dy", "wc", "ttsemilep"] = "dy"
    n_events_mc: int = Field(200_000, ge=1, le=MAX_GENERATED)
    n_events_data: int = Field(100_000, ge=1, le=MAX_GENERATED)
    seed: int = 1
    mismodelling: float = Field(0.1, gt=-1.0, description="size of ip_scale: data inputs x (1 + mismodelling)")
    mismodelled: list[str] = Field(default_factory=lambda: list(DEFAULT_MISMODELLED),
                                   description="Jet_DeepCSV_* inputs that ip_scale touches")
    effects: dict[str, float] = Field(default_factory=dict, description="further EFFECTS: name -> size")

    @field_validator("effects")
    @classmethod
    def _known_effects(cls, v: dict[str, float]) -> dict[str, float]:
        check_effects(v)
        return v

    def sizes(self) -> dict[str, float]:
        """Every effect with a non-zero size, ``mismodelling`` as ``ip_scale`` (sorted by name)."""
        sizes = {"ip_scale": self.mismodelling, **self.effects}
        return {k: float(v) for k, v in sorted(sizes.items()) if v}

    def key(self, sample: str) -> str:
        """Cache key of one sample: MC does not depend on the data size or mismodelling, and vice versa.

        Data depends on the effects with a non-zero size only, so every size-0 ablation shares one file.
        """
        fields = self.model_dump(mode="json")
        for name in ("mismodelling", "mismodelled", "effects"):
            fields.pop(name)
        if sample == "mc":
            fields.pop("n_events_data")
        else:
            fields.pop("n_events_mc")
            sizes = self.sizes()
            fields["effects"] = sizes
            if "ip_scale" in sizes:
                fields["mismodelled"] = self.mismodelled
        src = json.dumps([TOYNANO_VERSION, sample, fields], sort_keys=True)
        return hashlib.sha256(src.encode()).hexdigest()[:16]


def toynano_files(params: ToyNanoParams, root: Path | None = None) -> dict[str, Path]:
    """``{"data": path, "mc": path}``, generated on first use and cached by the parameters each depends on."""
    folder = (root or cache_dir()) / "toynano"
    out = {s: folder / f"{params.topology}-{s}-{params.key(s)}.root" for s in ("mc", "data")}
    for kind, path in out.items():
        if not path.is_file():
            write_events(path, params, is_mc=kind == "mc")
    return out


def write_events(path: Path, params: ToyNanoParams, is_mc: bool, progress: Callable[[int], None] | None = None,
                 ) -> Path:
    """Generate and write one sample in blocks of ``BLOCK`` events; atomic (no half-written file is ever seen)."""
    import uproot

    unknown = [n for n in params.mismodelled if n not in _COL]
    if unknown:
        raise ValueError(f"mismodelled input {unknown[0]!r} is not one of the 67 DeepCSV features")
    n_total = params.n_events_mc if is_mc else params.n_events_data
    sample = 0 if is_mc else 1
    with atomic_path(Path(path), suffix=".root") as tmp, uproot.recreate(tmp) as f:
        tree = None
        for start in range(0, n_total, BLOCK):
            n = min(BLOCK, n_total - start)
            ss = np.random.SeedSequence([TOYNANO_VERSION, params.seed, sample, TOPOLOGIES.index(params.topology),
                                         start // BLOCK])
            branches = generate_block(np.random.default_rng(ss), n, params, is_mc, first_event=start + 1)
            if tree is None:
                tree = f.mktree("Events", {k: v.type if hasattr(v, "fields") else v.dtype
                                           for k, v in branches.items()})
            tree.extend(branches)
            if progress is not None:
                progress(n)
    return Path(path)


def generate_block(rng: np.random.Generator, n: int, params: ToyNanoParams, is_mc: bool, first_event: int = 1,
                   ) -> dict[str, object]:
    """Branches of ``n`` events (awkward records for Jet and Muon, numpy for the rest)."""
    topo = {"dy": _dy, "wc": _wc, "ttsemilep": _ttsemilep}[params.topology]
    muons, roles, met = topo(rng, n)
    jets = _jets(rng, n, roles, is_mc, params)
    if "_soft_of" in muons:
        _soft_muon_charges(rng, n, muons, jets)
    branches: dict[str, object] = {
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": ((first_event + np.arange(n)) // 1000 + 1).astype(np.uint32),
        "event": (first_event + np.arange(n)).astype(np.uint64),
        "Muon": _collection(muons, n),
        "Jet": _collection(jets, n),
        "MET_pt": met[0].astype(np.float32),
        "MET_phi": met[1].astype(np.float32),
    }
    if is_mc:
        branches["genWeight"] = np.where(rng.random(n) < 0.05, -1.0, 1.0).astype(np.float32)
    return branches


def _soft_muon_charges(rng: np.random.Generator, n: int, muons: dict[str, np.ndarray], jets: dict[str, np.ndarray],
                       ) -> None:
    """W+c: the soft muon is opposite in charge to the W muon for 85 % of c jets, 50 % for other flavours."""
    label = np.full(n, 3)
    label[jets["event"][jets["_tagged"]]] = jets["_label"][jets["_tagged"]]
    soft = muons["_soft_of"] >= 0
    ev = muons["_soft_of"][soft]
    q_w = muons["charge"][:n][ev]  # the first n muons are the W muons, one per event, in event order
    opposite = rng.random(len(ev)) < np.where(label[ev] == 2, 0.85, 0.5)
    muons["charge"][soft] = np.where(opposite, -q_w, q_w)


# ----------------------------------------------------------------------------- event topologies
# Each returns (muons, jet roles, (MET pt, phi)); muons is a dict of flat columns plus "event" (index),
# jet roles a list of (per-event counts, pool fractions, optional (eta, phi) the first jet must take).


def _muon_block(rng: np.random.Generator, event: np.ndarray, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray,
                charge: np.ndarray, prompt: bool) -> dict[str, np.ndarray]:
    m = len(event)
    iso = rng.exponential(0.04, m) if prompt else 0.3 + rng.exponential(0.5, m)
    fake_iso = rng.random(m) < (0.05 if prompt else 0.0)  # prompt muons near other activity
    iso = np.where(fake_iso, 0.15 + rng.exponential(0.2, m), iso)
    return {
        "event": event,
        "pt": pt.astype(np.float32),
        "eta": eta.astype(np.float32),
        "phi": _wrap(phi).astype(np.float32),
        "mass": np.full(m, _M_MU, np.float32),
        "charge": charge.astype(np.int32),
        "tightId": rng.random(m) < (0.97 if prompt else 0.6),
        "looseId": rng.random(m) < (0.995 if prompt else 0.97),
        "pfRelIso04_all": iso.astype(np.float32),
    }


def _merge(*blocks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def _dy(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], list, tuple[np.ndarray, np.ndarray]]:
    mass = np.clip(_M_Z + 0.5 * _W_Z * rng.standard_cauchy(n), 40.0, 200.0)
    zpt = rng.exponential(15.0, n)
    zy = rng.normal(0.0, 1.2, n)
    zphi = rng.uniform(-np.pi, np.pi, n)
    mu1, mu2 = _two_body(rng, mass, zpt, zy, zphi)
    q = np.where(rng.random(n) < 0.5, 1, -1)
    q2 = np.where(rng.random(n) < 0.02, q, -q)  # charge mis-measurement: same-sign pairs fail the OS cut
    ev = np.arange(n)
    muons = _merge(_muon_block(rng, ev, *mu1, q, True), _muon_block(rng, ev, *mu2, q2, True))
    roles = [(rng.poisson(1.6, n), _LIGHT, None)]
    return muons, roles, (rng.rayleigh(15.0, n), rng.uniform(-np.pi, np.pi, n))


def _wc(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], list, tuple[np.ndarray, np.ndarray]]:
    ev = np.arange(n)
    pt = 22.0 + rng.gamma(2.0, 9.0, n)
    q = np.where(rng.random(n) < 0.55, 1, -1)
    w_mu = _muon_block(rng, ev, pt, rng.normal(0, 1.3, n).clip(-2.39, 2.39), rng.uniform(-np.pi, np.pi, n), q, True)
    # the c-candidate jet: its direction is drawn here so that the soft muon can be placed inside it
    jet_eta = rng.normal(0.0, 1.1, n).clip(-2.45, 2.45)
    jet_phi = rng.uniform(-np.pi, np.pi, n)
    has_soft = rng.random(n) < 0.8
    soft_ev = ev[has_soft]
    k = len(soft_ev)
    dr = np.abs(rng.normal(0.0, 0.12, k)).clip(0.0, 0.39)
    ang = rng.uniform(-np.pi, np.pi, k)
    soft_eta = (jet_eta[has_soft] + dr * np.cos(ang)).clip(-2.4, 2.4)
    soft = _muon_block(rng, soft_ev, 3.0 + rng.exponential(6.0, k), soft_eta, jet_phi[has_soft] + dr * np.sin(ang),
                       np.zeros(k, np.int32), False)
    roles = [(np.ones(n, np.int64), _CHARM, (jet_eta, jet_phi)), (rng.poisson(1.0, n), _LIGHT, None)]
    muons = _merge(w_mu, soft)
    # the soft muon's charge depends on the flavour of the jet it sits in: set after the jets exist
    muons["_soft_of"] = np.concatenate([np.full(n, -1), soft_ev])
    met_pt = pt * rng.uniform(0.6, 1.4, n)
    met_phi = w_mu["phi"] + np.pi + rng.normal(0.0, 0.6, n)  # the neutrino recoils against the muon
    return muons, roles, (met_pt, _wrap(met_phi))


def _ttsemilep(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], list, tuple[np.ndarray, np.ndarray]]:
    ev = np.arange(n)
    mu = _muon_block(rng, ev, 20.0 + rng.exponential(35.0, n), rng.normal(0, 1.2, n).clip(-2.39, 2.39),
                     rng.uniform(-np.pi, np.pi, n), np.where(rng.random(n) < 0.5, 1, -1), True)

    def kept(k: int) -> np.ndarray:
        return rng.binomial(k, 0.88, n)

    roles = [(kept(2), _BJETS, None), (kept(2), _WJETS, None), (rng.poisson(0.8, n), _LIGHT, None)]
    return mu, roles, (20.0 + rng.gamma(2.0, 25.0, n), rng.uniform(-np.pi, np.pi, n))


# ----------------------------------------------------------------------------- jets and kinematics


def _jets(rng: np.random.Generator, n: int, roles: list, is_mc: bool, params: ToyNanoParams,
          ) -> dict[str, np.ndarray]:
    """Jets of every role drawn from toyjets pools, grouped by event and sorted by decreasing pT."""
    parts = []
    for counts, fractions, direction in roles:
        counts = np.asarray(counts, dtype=np.int64)
        m = int(counts.sum())
        if m == 0:
            continue
        seed = int(rng.integers(0, 2**31 - 1))
        jets = generate_toyjets(m, seed=seed, fractions=tuple(fractions), **({} if is_mc else _generator(params)))
        event = np.repeat(np.arange(n), counts)
        eta = jets.features[:, _COL["Jet_eta"]]
        phi = rng.uniform(-np.pi, np.pi, m)
        if direction is not None:  # one jet per event with a fixed direction (counts are all 1)
            eta = direction[0][event].astype(np.float32)
            phi = direction[1][event]
            jets.features[:, _COL["Jet_eta"]] = eta
        parts.append((event, jets.features, jets.labels, phi, direction is not None))
    event = np.concatenate([p[0] for p in parts])
    features = np.concatenate([p[1] for p in parts])
    labels = np.concatenate([p[2] for p in parts])
    phi = np.concatenate([p[3] for p in parts])
    tagged = np.concatenate([np.full(len(p[0]), p[4]) for p in parts])  # the wc c-candidate
    if not is_mc:
        _mismodel(features, params)
    pt = features[:, _COL["Jet_pt"]]
    order = np.lexsort((-pt, event))
    m = len(event)
    cols: dict[str, np.ndarray] = {"event": event[order]}
    cols.update(jet_columns(features[order], labels[order] if is_mc else None))
    cols["phi"] = _wrap(phi[order]).astype(np.float32)
    cols["mass"] = (pt[order] * rng.uniform(0.05, 0.2, m)).astype(np.float32)
    cols["jetId"] = np.where(rng.random(m) < 0.95, 6, np.where(rng.random(m) < 0.5, 2, 0)).astype(np.int32)
    cols["_label"] = labels[order]
    cols["_tagged"] = tagged[order]
    return cols


def _generator(params: ToyNanoParams) -> dict[str, object]:
    """The toyjets arguments of the data: the effects that act while the jets are generated."""
    sizes = params.sizes()
    return {"response": Response(ip_noise=1.0 + sizes.get("ip_resolution", 0.0),
                                 prompt_tracks=1.0 + sizes.get("track_multiplicity", 0.0)),
            "pv_pull": PV_PULL * (1.0 + sizes.get("pv_pull", 0.0))}


def _mismodel(features: np.ndarray, params: ToyNanoParams) -> None:
    """Data only, after generation: ``ip_scale`` (chosen continuous inputs x (1 + size), as in the first
    toynano) and ``sv_mass`` (the vertex mass x (1 + size) where a vertex exists)."""
    sizes = params.sizes()
    cols = [_COL[n] for n in params.mismodelled if n not in INTEGER_FEATURES]
    if cols and sizes.get("ip_scale"):
        features[:, cols] *= np.float32(1.0 + sizes["ip_scale"])
    if sizes.get("sv_mass"):
        mass = features[:, _COL["Jet_DeepCSV_vertexMass"]]
        present = np.isfinite(mass) & (mass != PLACEHOLDER) & (np.abs(mass) < 1e30)
        mass[present] *= np.float32(1.0 + sizes["sv_mass"])


def _two_body(rng: np.random.Generator, mass: np.ndarray, pt: np.ndarray, y: np.ndarray, phi: np.ndarray,
              ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Isotropic decay of a (mass, pt, rapidity, phi) parent into two muons: ((pt, eta, phi), (pt, eta, phi))."""
    n = len(mass)
    mt = np.sqrt(mass**2 + pt**2)
    parent = np.stack([mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)], axis=1)
    p = np.sqrt(np.maximum(mass**2 / 4 - _M_MU**2, 0.0))
    cos_t = rng.uniform(-1, 1, n)
    sin_t = np.sqrt(1 - cos_t**2)
    ph = rng.uniform(-np.pi, np.pi, n)
    d = np.stack([sin_t * np.cos(ph), sin_t * np.sin(ph), cos_t], axis=1) * p[:, None]
    e = np.sqrt(p**2 + _M_MU**2)
    out = []
    for sign in (1.0, -1.0):
        v = _boost(np.column_stack([e, sign * d]), parent)
        out.append(_pt_eta_phi(v))
    return out[0], out[1]


def _boost(v: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Boost four-vectors ``v`` (E, px, py, pz) from the rest frame of ``parent`` to the lab."""
    m = np.sqrt(np.maximum(parent[:, 0] ** 2 - (parent[:, 1:] ** 2).sum(1), 1e-12))
    beta = parent[:, 1:] / parent[:, :1]
    gamma = parent[:, 0] / m
    bp = (beta * v[:, 1:]).sum(1)
    b2 = (beta**2).sum(1)
    coef = np.where(b2 > 0, (gamma - 1) * bp / np.where(b2 > 0, b2, 1.0), 0.0) + gamma * v[:, 0]
    return np.column_stack([gamma * (v[:, 0] + bp), v[:, 1:] + coef[:, None] * beta])


def _pt_eta_phi(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pt = np.hypot(v[:, 1], v[:, 2])
    return pt, np.arcsinh(v[:, 3] / np.maximum(pt, 1e-9)), np.arctan2(v[:, 2], v[:, 1])


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def _collection(cols: dict[str, np.ndarray], n_events: int) -> object:
    """Flat columns with an ``event`` index -> jagged awkward records, pT-ordered per event as in NanoAOD.

    Private ``_`` columns (generator bookkeeping) are not written.
    """
    import awkward as ak

    event = cols["event"]
    counts = np.bincount(event, minlength=n_events)
    fields = {k: v for k, v in cols.items() if k != "event" and not k.startswith("_")}
    order = np.lexsort((-fields["pt"], event))
    return ak.unflatten(ak.zip({k: v[order] for k, v in fields.items()}, depth_limit=1), counts)
