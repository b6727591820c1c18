"""Write jets as a PFNano-like ROOT file: an ``Events`` TTree with jagged ``Jet_*`` branches.

Lets the ``pfnano`` reader, and everything downstream, run on files with all four flavours (the
PFNano sample shipped with coffea has no b jets); ``jet_columns`` is shared with the Data/MC event
generator ``hepadv.datamc.toynano``.
Written as a TTree (``mktree`` + ``extend``), as real NanoAOD is; missing values are stored as the
-999 placeholder real files use, and counts as int32 like PFNano.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepadv.data.base import RawJets
from hepadv.data.deepcsv_features import FEATURES, PLACEHOLDER
from hepadv.io import atomic_path

#: PFNano stores these as int32; every other Jet_DeepCSV_* input is float32.
INT_BRANCHES = frozenset(
    {
        "Jet_DeepCSV_jetNSecondaryVertices",
        "Jet_DeepCSV_jetNSelectedTracks",
        "Jet_DeepCSV_jetNTracksEtaRel",
        "Jet_DeepCSV_vertexNTracks",
    }
)
#: (Jet_hadronFlavour, Jet_nBHadrons) per DeepCSV class b, bb, c, udsg.
TRUTH = np.array([[5, 1], [5, 2], [4, 0], [0, 0]], dtype=np.int32)


def jet_columns(features: np.ndarray, labels: np.ndarray | None) -> dict[str, np.ndarray]:
    """Flat PFNano ``Jet_*`` columns (names without the prefix) from jets in FEATURES order, NaN = missing.

    Missing values become the -999 placeholder, counts int32 as in PFNano; ``labels`` (DeepCSV class
    indices) add the MC truth branches ``hadronFlavour``/``nBHadrons``, ``None`` leaves them out (data).
    """
    stored = np.where(np.isnan(features), PLACEHOLDER, features)
    columns = {
        name.removeprefix("Jet_"): stored[:, j].astype(np.int32 if name in INT_BRANCHES else np.float32)
        for j, name in enumerate(FEATURES)
    }
    if labels is not None:
        columns["hadronFlavour"] = TRUTH[labels, 0]
        columns["nBHadrons"] = TRUTH[labels, 1]
    return columns


def write_pfnano(path: Path, jets: RawJets, jets_per_event: int = 4, run: int = 1) -> Path:
    """Write ``jets`` (FEATURES order, NaN = missing) into ``path``, ``jets_per_event`` jets per event."""
    import awkward as ak
    import uproot

    if jets.feature_names != FEATURES:
        raise ValueError("write_pfnano needs jets with the 67 DeepCSV features in FEATURES order")
    n = len(jets)
    counts = np.full(-(-n // jets_per_event), jets_per_event, dtype=np.int64)
    counts[-1] = n - jets_per_event * (len(counts) - 1)
    jet = ak.unflatten(ak.zip(jet_columns(jets.features, jets.labels), depth_limit=1), counts)
    n_events = len(counts)
    branches = {
        "run": np.full(n_events, run, dtype=np.uint32),
        "luminosityBlock": (np.arange(n_events) // 1000 + 1).astype(np.uint32),
        "event": np.arange(1, n_events + 1, dtype=np.uint64),
        "Jet": jet,
    }
    path = Path(path)
    with atomic_path(path, suffix=".root") as tmp, uproot.recreate(tmp) as f:
        tree = f.mktree("Events", {k: v.type if k == "Jet" else v.dtype for k, v in branches.items()})
        tree.extend(branches)
    return path
