"""The 67 DeepCSV inputs (thesis tables 2.2-2.4) and the thesis' rules for missing values.

Names follow the PFNano branches (``Jet_DeepCSV_*``; ``Jet_pt``/``Jet_eta`` for the kinematics).
``mark_missing`` turns placeholders (NaN, +-Inf, -999, -1 where -1 is unphysical, |x| ~ 1e34) and
values of tracks the jet does not have into NaN; preprocessing later places the defaults.
"""

from __future__ import annotations

import numpy as np

#: Values above this magnitude are "randomly assigned large" placeholders (thesis 2.2.4).
ABSURD = 1e30


JET_FEATURES: tuple[str, ...] = (
    "Jet_eta",
    "Jet_pt",
    "Jet_DeepCSV_trackJetPt",
    "Jet_DeepCSV_trackSip2dValAboveCharm",
    "Jet_DeepCSV_trackSip2dSigAboveCharm",
    "Jet_DeepCSV_trackSip3dValAboveCharm",
    "Jet_DeepCSV_trackSip3dSigAboveCharm",
    "Jet_DeepCSV_trackSumJetDeltaR",
    "Jet_DeepCSV_trackSumJetEtRatio",
    "Jet_DeepCSV_vertexCategory",
    "Jet_DeepCSV_jetNSecondaryVertices",
    "Jet_DeepCSV_jetNSelectedTracks",
    "Jet_DeepCSV_jetNTracksEtaRel",
)
TRACK_PROPERTIES: tuple[str, ...] = (
    "trackDecayLenVal",
    "trackDeltaR",
    "trackJetDistVal",
    "trackPtRel",
    "trackPtRatio",
    "trackSip2dSig",
    "trackSip3dSig",
)
N_TRACKS = 6
N_ETAREL = 4
TRACK_FEATURES: tuple[str, ...] = tuple(
    f"Jet_DeepCSV_{prop}_{k}" for prop in TRACK_PROPERTIES for k in range(N_TRACKS)
) + tuple(f"Jet_DeepCSV_trackEtaRel_{k}" for k in range(N_ETAREL))
SV_FEATURES: tuple[str, ...] = (
    "Jet_DeepCSV_flightDistance2dVal",
    "Jet_DeepCSV_flightDistance2dSig",
    "Jet_DeepCSV_flightDistance3dVal",
    "Jet_DeepCSV_flightDistance3dSig",
    "Jet_DeepCSV_vertexEnergyRatio",
    "Jet_DeepCSV_vertexJetDeltaR",
    "Jet_DeepCSV_vertexMass",
    "Jet_DeepCSV_vertexNTracks",
)
FEATURES: tuple[str, ...] = JET_FEATURES + TRACK_FEATURES + SV_FEATURES

INTEGER_FEATURES: tuple[str, ...] = (
    "Jet_DeepCSV_vertexCategory",
    "Jet_DeepCSV_jetNSecondaryVertices",
    "Jet_DeepCSV_jetNSelectedTracks",
    "Jet_DeepCSV_jetNTracksEtaRel",
    "Jet_DeepCSV_vertexNTracks",
)

#: Features whose physical range is non-negative: a negative value (e.g. -1) there is a placeholder.
NONNEGATIVE_FEATURES: frozenset[str] = frozenset(
    {
        "Jet_pt",
        "Jet_DeepCSV_trackJetPt",
        "Jet_DeepCSV_trackSumJetDeltaR",
        "Jet_DeepCSV_trackSumJetEtRatio",
        "Jet_DeepCSV_flightDistance2dVal",
        "Jet_DeepCSV_flightDistance2dSig",
        "Jet_DeepCSV_flightDistance3dVal",
        "Jet_DeepCSV_flightDistance3dSig",
        "Jet_DeepCSV_vertexEnergyRatio",
        "Jet_DeepCSV_vertexJetDeltaR",
        "Jet_DeepCSV_vertexMass",
        *INTEGER_FEATURES,
        *(f"Jet_DeepCSV_{p}_{k}" for p in ("trackDecayLenVal", "trackDeltaR", "trackPtRel", "trackPtRatio")
          for k in range(N_TRACKS)),
    }
)
#: Features that are exactly -1 when the tracks never pass the charm-mass threshold (thesis 2.2.4).
ABOVE_CHARM_FEATURES: frozenset[str] = frozenset(n for n in JET_FEATURES if n.endswith("AboveCharm"))
#: Generic placeholders and the threshold above which a value counts as "randomly assigned large".
PLACEHOLDER = -999.0


def track_index(name: str) -> tuple[str, int] | None:
    """``("track", k)`` for per-track features, ``("etarel", k)`` for eta_rel, else None."""
    if not name.startswith("Jet_DeepCSV_track") or not name[-1].isdigit() or name[-2] != "_":
        return None
    k = int(name[-1])
    return ("etarel", k) if "EtaRel" in name else ("track", k)


def mark_missing(x: np.ndarray, names: tuple[str, ...] = FEATURES) -> tuple[np.ndarray, int]:
    """Return a float32 copy of ``x`` (n_jets, n_features) with every missing value set to NaN.

    Also returns how many values were placeholders in the input (NaN/Inf/-999/-1/absurd), so the
    caller can log them. Track features of track k become NaN when the jet has fewer than k+1
    selected tracks (fewer than k+1 eta_rel tracks for ``trackEtaRel_k``).
    """
    out = np.array(x, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(out) | (out == PLACEHOLDER) | (np.abs(out) > ABSURD)
        for j, name in enumerate(names):
            if name in NONNEGATIVE_FEATURES:
                bad[:, j] |= out[:, j] < 0
            elif name in ABOVE_CHARM_FEATURES:
                bad[:, j] |= out[:, j] == -1.0
    n_placeholders = int(bad.sum())
    out[bad] = np.nan

    index = {n: j for j, n in enumerate(names)}
    counts = {
        "track": index.get("Jet_DeepCSV_jetNSelectedTracks"),
        "etarel": index.get("Jet_DeepCSV_jetNTracksEtaRel"),
    }
    for j, name in enumerate(names):
        tk = track_index(name)
        if tk is None or counts[tk[0]] is None:
            continue
        n_have = out[:, counts[tk[0]]]
        with np.errstate(invalid="ignore"):
            out[~(n_have >= tk[1] + 1), j] = np.nan
    return out, n_placeholders


def flavour_labels(hadron_flavour: np.ndarray, n_b_hadrons: np.ndarray) -> np.ndarray:
    """Thesis 2.2.3: 0 = b (one B hadron), 1 = bb (more than one), 2 = c, 3 = udsg."""
    hadron_flavour = np.asarray(hadron_flavour)
    n_b_hadrons = np.asarray(n_b_hadrons)
    labels = np.full(hadron_flavour.shape, 3, dtype=np.int64)
    labels[hadron_flavour == 4] = 2
    is_b = hadron_flavour == 5
    labels[is_b & (n_b_hadrons <= 1)] = 0
    labels[is_b & (n_b_hadrons > 1)] = 1
    return labels


def kinematic_cuts(pt: np.ndarray, eta: np.ndarray, track_sum_dr: np.ndarray) -> np.ndarray:
    """Thesis 2.2.4 jet cleaning: |eta| < 2.5, 20 < pT < 1000 GeV, trackSumJetDeltaR < 0.3."""
    with np.errstate(invalid="ignore"):
        return (np.abs(eta) < 2.5) & (pt > 20.0) & (pt < 1000.0) & (track_sum_dr < 0.3)


assert len(FEATURES) == 67, len(FEATURES)
