"""Dataset ``pfnano``: jets from NanoAOD/PFNano ROOT files with the 65 ``Jet_DeepCSV_*`` input branches.

Per file: read the jagged ``Jet_*`` branches with uproot in chunks, flatten to one row per jet, apply the
thesis cleaning (``kinematic_cuts``), turn placeholders into NaN (``mark_missing``) and label by
``flavour_labels`` (needs the MC truth branches, so data files are refused with a hint).

Missing ``trackSumJetDeltaR`` (-999 / NaN / negative): the jet FAILS the ``< 0.3`` cut. In real PFNano
(coffea's ``pfnano.root``) the value is -999 only when the whole DeepCSV tag-info block is -999
(vertexCategory and trackJetPt too): no b-tag information was computed for the jet, which happens outside
the tracker (all such jets there have |eta| > 2.5). Jets inside the tracker without selected tracks still
carry a real value (e.g. 0.04, or ~2.6 near |eta| = 2.5). Comparing the raw -999 with 0.3 would silently
keep untaggable jets, so the cut is applied after the placeholder is recognised as missing.

Values of tracks a jet does not have are not always placeholders in real files: the producer leaves stale
numbers from earlier jets or uninitialised memory (1e28, 7e31, 6e7, 0.0) there, so the track-k rule of
``mark_missing`` (NaN when fewer than k+1 selected tracks) is what cleans them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, PositiveInt

from hepadv.components import ComponentParams
from hepadv.data.base import DEEPCSV_CLASSES, Dataset, RawJets
from hepadv.data.deepcsv_features import FEATURES, INTEGER_FEATURES, flavour_labels, kinematic_cuts, mark_missing
from hepadv.errors import DataError
from hepadv.paths import CardPath

log = logging.getLogger("hepadv.data")

TRUTH_BRANCHES: tuple[str, ...] = ("Jet_hadronFlavour", "Jet_nBHadrons")
BRANCHES: tuple[str, ...] = FEATURES + TRUTH_BRANCHES
_DR = FEATURES.index("Jet_DeepCSV_trackSumJetDeltaR")
_PT = FEATURES.index("Jet_pt")
_ETA = FEATURES.index("Jet_eta")
#: uproot chunk size: bounds memory on large files, one chunk for small ones.
STEP_SIZE = "200 MB"


def one_line(exc: BaseException) -> str:
    """An exception message on one line, capped at 200 characters (library messages can span many lines)."""
    text = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def file_stats(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime_ns) of an input file; DataError when it does not exist."""
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        raise DataError(f"input file {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot access input file {path}: {exc}") from exc
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def open_tree(path: Path, tree: str) -> tuple[Any, Any]:
    """Open ``path`` with uproot and return (file, TTree); DataError for every way this can fail."""
    import uproot

    file_stats(path)
    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises ValueError, OSError, DeserializationError...
        raise DataError(f"{path} is not a readable ROOT file: {one_line(exc)}") from exc
    try:
        classes = f.classnames(recursive=True, cycle=False)
        kind = classes.get(tree)
        if kind is None:
            trees = sorted(k for k, c in classes.items() if c in ("TTree", "ROOT::RNTuple"))
            listing = ", ".join(trees) if trees else "none"
            raise DataError(f"{path} has no tree {tree!r}; trees in the file: {listing}")
        if kind != "TTree":
            raise DataError(f"{path}: {tree!r} is a {kind}, not a TTree (RNTuple files are not supported)")
        return f, f[tree]
    except DataError:
        f.close()
        raise
    except Exception as exc:
        f.close()
        raise DataError(f"{path} is corrupt: cannot read tree {tree!r}: {one_line(exc)}") from exc


def check_branches(path: Path, tree_name: str, tree: Any, branches: tuple[str, ...] = BRANCHES) -> None:
    """DataError naming the first missing branch and the file; a hint for data files without truth."""
    have = set(tree.keys())
    missing = [b for b in branches if b not in have]
    if not missing:
        return
    hints = []
    if any(b.startswith("Jet_DeepCSV_") for b in missing):
        hints.append("the DeepCSV inputs are in PFNano files, not in standard NanoAOD")
    if "Jet_hadronFlavour" in missing:
        hints.append("flavour labels need simulation (Jet_hadronFlavour), is this a data file?")
    elif "Jet_nBHadrons" in missing:
        hints.append("Jet_nBHadrons is needed to tell b from bb jets")
    hint = "".join(f"; {h}" for h in hints)
    raise DataError(
        f"{path}: branch {missing[0]!r} is missing from tree {tree_name!r} "
        f"({len(missing)} of {len(branches)} required branches missing){hint}"
    )


def clean_jets(
    features: np.ndarray, hadron_flavour: np.ndarray, n_b_hadrons: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thesis cleaning and labels for flat jets with raw ``features`` in ``FEATURES`` order.

    Returns (raw features of the kept jets, placeholders untouched, labels, kinematics (pt, eta) as a
    2-column array). Placeholders are left to ``FeatureSpec.transform``; only trackSumJetDeltaR is
    recognised here, because a missing value must fail its cut.
    """
    dr, _ = mark_missing(features[:, [_DR]], ("Jet_DeepCSV_trackSumJetDeltaR",))
    keep = kinematic_cuts(features[:, _PT], features[:, _ETA], dr[:, 0])  # NaN dr fails the cut
    raw = features[keep]
    labels = flavour_labels(hadron_flavour[keep], n_b_hadrons[keep])
    return raw, labels, raw[:, [_PT, _ETA]].astype(np.float32)


class PFNanoJets(Dataset):
    """Jets from PFNano files (MC: truth flavour is required), cleaned as in the thesis (2.2.3, 2.2.4)."""

    name: ClassVar[str] = "pfnano"

    class Params(ComponentParams):
        files: list[CardPath] = Field(min_length=1, description="NanoAOD/PFNano ROOT files (TTrees)")
        tree: str = "Events"
        max_jets: PositiveInt | None = Field(None, description="keep only the first N jets after cleaning")

    def load(self) -> RawJets:
        p = self.params
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        n_read = n_kept = 0
        for path in p.files:
            budget = None if p.max_jets is None else p.max_jets - n_kept
            file_parts, n_jets = self._read_file(Path(path), budget)
            parts += file_parts
            n_read += n_jets
            n_kept += sum(len(lab) for _, lab, _ in file_parts)
            if p.max_jets is not None and n_kept >= p.max_jets:
                break
        if n_kept == 0:
            names = ", ".join(str(f) for f in p.files)
            raise DataError(
                f"no jets left after cleaning (|eta| < 2.5, 20 < pT < 1000 GeV, trackSumJetDeltaR < 0.3) "
                f"in {names}: {n_read} jets read"
            )
        stop = n_kept if p.max_jets is None else min(p.max_jets, n_kept)
        kin = np.concatenate([k for _, _, k in parts])[:stop]
        return RawJets(
            features=np.concatenate([x for x, _, _ in parts])[:stop],
            labels=np.concatenate([lab for _, lab, _ in parts])[:stop],
            pt=np.ascontiguousarray(kin[:, 0]),
            eta=np.ascontiguousarray(kin[:, 1]),
            feature_names=FEATURES,
            integer_features=INTEGER_FEATURES,
            classes=DEEPCSV_CLASSES,
        )

    def _read_file(self, path: Path, budget: int | None) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], int]:
        """Cleaned (features, labels, kinematics) chunks of one file, stopping once ``budget`` jets are kept."""
        import awkward as ak

        tree_name = self.params.tree
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        n_events = n_jets = n_kept = 0
        f, tree = open_tree(path, tree_name)
        with f:
            check_branches(path, tree_name, tree)
            try:
                for chunk in tree.iterate(list(BRANCHES), step_size=STEP_SIZE, library="ak"):
                    # one row per jet: every Jet_* branch is jagged with the same nJet counter
                    cols = {b: ak.to_numpy(ak.flatten(chunk[b], axis=1)) for b in BRANCHES}
                    if len({len(v) for v in cols.values()}) != 1:
                        raise DataError(f"{path}: the Jet_* branches in tree {tree_name!r} have different jet counts")
                    raw = np.column_stack([cols[b].astype(np.float32, copy=False) for b in FEATURES])
                    x, lab, kin = clean_jets(raw, cols["Jet_hadronFlavour"], cols["Jet_nBHadrons"])
                    parts.append((x, lab, kin))
                    n_events += len(chunk)
                    n_jets += len(raw)
                    n_kept += len(lab)
                    if budget is not None and n_kept >= budget:
                        break
            except DataError:
                raise
            except Exception as exc:
                raise DataError(f"{path} is corrupt: reading tree {tree_name!r} failed: {one_line(exc)}") from exc
        log.info("pfnano: %s: %d events, %d jets, %d after cleaning", path, n_events, n_jets, n_kept)
        return parts, n_jets

    def cache_key(self) -> str:
        """Params plus (path, size, mtime) of every file, so editing or replacing a file invalidates the cache."""
        stats = ";".join(f"{p}|{size}|{mtime}" for p, size, mtime in (file_stats(Path(f)) for f in self.params.files))
        return f"{self.name}:{self.params.model_dump_json()}:{stats}"
