"""Hand-built NanoAOD-like events for the Data/MC tests, written as TTrees and read back with NanoEvents."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

MUON = {"pt": np.float32, "eta": np.float32, "phi": np.float32, "mass": np.float32, "charge": np.int32,
        "tightId": np.bool_, "pfRelIso04_all": np.float32}
JET = {"pt": np.float32, "eta": np.float32, "phi": np.float32, "mass": np.float32, "jetId": np.int32}


def mu(pt: float, eta: float, phi: float, q: int, iso: float = 0.05, tight: bool = True) -> dict[str, Any]:
    return {"pt": pt, "eta": eta, "phi": phi, "mass": 0.1057, "charge": q, "tightId": tight, "pfRelIso04_all": iso}


def jet(pt: float, eta: float, phi: float, jet_id: int = 6, **extra: float) -> dict[str, Any]:
    return {"pt": pt, "eta": eta, "phi": phi, "mass": 5.0, "jetId": jet_id, **extra}


def write_events(path: Path, events: list[dict[str, Any]], extra_jet_fields: dict[str, type] | None = None,
                 drop: tuple[str, ...] = (), met: str = "MET") -> Path:
    """events: dicts with "muons", "jets" (lists of dicts), optional "met" (pt, phi) and "genWeight"."""
    jet_types = {**JET, **(extra_jet_fields or {})}

    def collection(key: str, types: dict[str, type]) -> ak.Array:
        counts = np.array([len(e.get(key, [])) for e in events], dtype=np.int64)
        cols = {f: np.array([o[f] for e in events for o in e.get(key, [])], dtype=t) for f, t in types.items()}
        return ak.unflatten(ak.zip(cols, depth_limit=1), counts)

    n = len(events)
    branches: dict[str, Any] = {
        "run": np.ones(n, np.uint32), "luminosityBlock": np.ones(n, np.uint32),
        "event": np.arange(1, n + 1, dtype=np.uint64),
        "Muon": collection("muons", MUON), "Jet": collection("jets", jet_types),
        f"{met}_pt": np.array([e.get("met", (0.0, 0.0))[0] for e in events], np.float32),
        f"{met}_phi": np.array([e.get("met", (0.0, 0.0))[1] for e in events], np.float32),
    }
    if any("genWeight" in e for e in events):
        branches["genWeight"] = np.array([e.get("genWeight", 1.0) for e in events], np.float32)
    branches = {k: v for k, v in branches.items() if k not in drop}
    with uproot.recreate(path) as f:
        tree = f.mktree("Events", {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()})
        tree.extend(branches)
    return path


def read_events(path: Path) -> Any:
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema).events()
