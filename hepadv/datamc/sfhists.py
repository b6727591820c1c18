"""The CvsL x CvsB histograms behind the shape scale factors (thesis app. A.5.2), declared and stored here.

The processor fills one 2-D histogram per tagger with categories ``kind`` (data, mc), ``variation`` (raw or an
MC distortion) and ``flavour`` (b, bb, c, udsg by truth for MC; ``data`` for data), weighted like every Data/MC
histogram (genWeight and the W+c opposite-sign minus same-sign sign), with Weight storage (sum of squared
weights kept for the statistical errors).

Binning: a fine regular grid, ``FINE_BINS`` = 20 x 20 bins of width 0.05 over [0, 1] in CvsL and CvsB. The fit
(``hepadv.datamc.sffit``) merges it into the coarse grid it measures on, whose edges are any subset of
the fine ones, so the grid is a choice at fit time, not at processing time. Undefined discriminators (NaN: no
valid denominator) go to the underflow (filled at -0.1, like the 1-D histograms' default bin); values of exactly
1 are kept in the last bin. Flow bins enter the MC-to-data normalisation but never the fit.

Stored as ``sf_inputs.npz`` beside ``results.json`` (plain arrays plus a JSON index; read with
``allow_pickle=False``, so reading a run folder never unpickles), and as TH2s in ``hists.root``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepadv.datamc.histograms import DATA_FLAVOUR, DEFAULT_VALUE, FLAVOURS, KINDS
from hepadv.errors import DataError
from hepadv.io import atomic_path

#: Fine grid of the filled histograms: (bins, low, high) for CvsL and for CvsB.
FINE_BINS: tuple[int, float, float] = (20, 0.0, 1.0)
#: The two discriminators of the scale-factor plane, in axis order.
AXES: tuple[str, str] = ("CvsL", "CvsB")
#: File name of the stored histograms inside a Data/MC output folder.
SF_INPUTS = "sf_inputs.npz"
#: Bump when the stored layout changes.
FORMAT_VERSION = 1


def sf_hist(variations: tuple[str, ...], label: str = "") -> Any:
    """An empty (kind, variation, flavour, CvsL, CvsB) histogram; categories fixed up front as in ``histograms``."""
    import hist

    n, low, high = FINE_BINS
    return hist.Hist(
        hist.axis.StrCategory(list(KINDS), name="kind"),
        hist.axis.StrCategory(list(variations), name="variation"),
        hist.axis.StrCategory([*FLAVOURS, DATA_FLAVOUR], name="flavour"),
        hist.axis.Regular(n, low, high, name="CvsL", label=f"{label} CvsL".strip()),
        hist.axis.Regular(n, low, high, name="CvsB", label=f"{label} CvsB".strip()),
        storage=hist.storage.Weight(),
    )


def sf_value(values: np.ndarray) -> np.ndarray:
    """NaN -> the underflow (DEFAULT_VALUE); 1.0 -> just below 1 so it stays in the last bin."""
    values = np.asarray(values, dtype=np.float64)
    top = np.nextafter(FINE_BINS[2], FINE_BINS[1])
    return np.where(np.isfinite(values), np.minimum(values, top), DEFAULT_VALUE)


def fill_sf(store: dict[str, Any], key: str, values: dict[str, dict[str, np.ndarray]], variations: tuple[str, ...],
            kind: str, flavour: np.ndarray, weight: np.ndarray) -> None:
    """Fill ``store[key]`` from one tagger's ``{variation: {output: values}}``; taggers without CvsL/CvsB skip."""
    for variation, outputs in values.items():
        if not all(a in outputs for a in AXES):
            return
        h = store.get(key)
        if h is None:
            h = store[key] = sf_hist(variations, key)
        h.fill(kind=kind, variation=variation, flavour=flavour, CvsL=sf_value(outputs["CvsL"]),
               CvsB=sf_value(outputs["CvsB"]), weight=weight)


# ------------------------------------------------------------------------------------------- storage
@dataclass
class SFInputs:
    """One selection's stored histograms: per tagger (kind, variation, flavour, CvsL+2, CvsB+2) with flows."""

    taggers: list[str]
    variations: list[str]
    kinds: list[str]
    flavours: list[str]
    edges: dict[str, list[float]]
    values: dict[str, np.ndarray]
    variances: dict[str, np.ndarray]
    source: str = ""

    def select(self, tagger: str, kind: str, variation: str, flavours: tuple[str, ...]) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
        """(sum of weights, sum of squared weights) over ``flavours``, shape (CvsL+2, CvsB+2) with flows."""
        if tagger not in self.values:
            raise DataError(f"{self.source}: no CvsL x CvsB histogram for tagger {tagger!r} "
                            f"(it has {', '.join(self.taggers) or 'none'})")
        if variation not in self.variations:
            raise DataError(f"{self.source}: no MC variation {variation!r} (it has {', '.join(self.variations)})")
        i, k = self.variations.index(variation), self.kinds.index(kind)
        idx = [self.flavours.index(f) for f in flavours]
        return (self.values[tagger][k, i, idx].sum(axis=0), self.variances[tagger][k, i, idx].sum(axis=0))


def write_sf_inputs(hists: dict[str, Any], path: Path) -> Path | None:
    """Write the processor's ``output["sf"]`` to ``path`` (atomic); None when no tagger had CvsL and CvsB."""
    if not hists:
        path.unlink(missing_ok=True)  # an older run's file must not pass for this one's
        return None
    first = next(iter(hists.values()))
    index = {
        "format": FORMAT_VERSION,
        "taggers": list(hists),
        "variations": list(first.axes["variation"]),
        "kinds": list(first.axes["kind"]),
        "flavours": list(first.axes["flavour"]),
        "edges": {a: first.axes[a].edges.tolist() for a in AXES},
    }
    arrays: dict[str, np.ndarray] = {"index": np.array(json.dumps(index))}
    for i, h in enumerate(hists.values()):
        view = h.view(flow=True)
        # category axes carry an (unused) overflow bin in the flow view: keep their categories, and the CvsL/CvsB flows
        cats = tuple(slice(0, len(h.axes[name])) for name in ("kind", "variation", "flavour"))
        arrays[f"values_{i}"] = np.asarray(view.value)[cats]
        arrays[f"variances_{i}"] = np.asarray(view.variance)[cats]
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def read_sf_inputs(path: Path) -> SFInputs:
    """Read ``sf_inputs.npz``; a missing or foreign file is a DataError naming it."""
    if not path.is_file():
        raise DataError(f"{path}: no CvsL x CvsB histograms (run hepadv datamc first, or hepadv sf without "
                        "--from-saved)")
    try:
        with np.load(path, allow_pickle=False) as f:
            index = json.loads(str(f["index"]))
            n = len(index["taggers"])
            values = {t: f[f"values_{i}"] for i, t in enumerate(index["taggers"])}
            variances = {t: f[f"variances_{i}"] for i, t in enumerate(index["taggers"])}
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a hepadv sf_inputs file ({exc})") from None
    if index.get("format") != FORMAT_VERSION or len(values) != n:
        raise DataError(f"{path}: format {index.get('format')!r}, expected {FORMAT_VERSION}; rerun hepadv datamc")
    return SFInputs(index["taggers"], index["variations"], index["kinds"], index["flavours"], index["edges"],
                    values, variances, str(path))


def write_sf_root(f: Any, hists: dict[str, Any], safe: Any) -> None:
    """TH2s ``TAGGER/CvsL_CvsB/KIND_VARIATION_FLAVOUR`` into an open uproot file (empty ones skipped)."""
    for tagger, h in hists.items():
        for kind in h.axes["kind"]:
            for variation in h.axes["variation"]:
                for flavour in h.axes["flavour"]:
                    sub = h[{"kind": kind, "variation": variation, "flavour": flavour}]
                    if sub.sum(flow=True).value != 0 or sub.sum(flow=True).variance != 0:
                        f[f"{safe(tagger)}/CvsL_CvsB/{kind}_{safe(variation)}_{flavour}"] = sub
