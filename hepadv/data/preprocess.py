"""Raw jets -> scaled, split, weighted tensors (thesis 2.2.4-2.3); cached on disk.

Placeholders are recognised by the dataset's ``MissingRules``; defaults sit just below each feature's
minimum (min - 0.001); mean and std come from the training split only, excluding defaults; the split
is 72/8/20 by default. The resulting ``FeatureSpec`` is the model's input contract: every split here
is exactly ``spec.transform(raw)`` of its jets, and so is every later input (attacks, NanoAOD files).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepadv.cards.schema import PreprocessSection
from hepadv.data.base import FeatureSpec, RawJets
from hepadv.data.weights import kinematic_weights
from hepadv.errors import DataError
from hepadv.ids import content_id
from hepadv.io import atomic_path

log = logging.getLogger("hepadv.data")
DEFAULT_OFFSET = 0.001
SPLITS = ("train", "val", "test")
#: Bump when the cached arrays change meaning.
_CACHE_FORMAT = 2


@dataclass
class Split:
    """One split: scaled inputs (n, f) float32, labels, sample weights and the jet kinematics."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    pt: np.ndarray
    eta: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class PreparedData:
    spec: FeatureSpec
    train: Split
    val: Split
    test: Split


def feature_defaults(features: np.ndarray) -> np.ndarray:
    """Per-feature default: minimum of the valid values minus 0.001 (-0.001 for an all-missing column)."""
    with np.errstate(all="ignore"):
        valid = ~np.isnan(features)
        mins = np.where(valid.any(axis=0), np.nanmin(np.where(valid, features, np.inf), axis=0), 0.0)
    return mins.astype(np.float64) - DEFAULT_OFFSET


def scaling(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per feature excluding missing values (std 1 where a feature is constant or empty)."""
    valid = ~np.isnan(features)
    count = valid.sum(axis=0)
    x = np.where(valid, features, 0.0).astype(np.float64)
    mean = np.divide(x.sum(axis=0), count, out=np.zeros(features.shape[1]), where=count > 0)
    var = np.divide(((x - mean) ** 2 * valid).sum(axis=0), count, out=np.zeros(features.shape[1]), where=count > 0)
    std = np.sqrt(var)
    std[~(std > 0)] = 1.0
    return mean, std


def split_indices(n: int, fractions: tuple[float, float, float], seed: int) -> list[np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_train = round(fractions[0] * n)
    n_val = round(fractions[1] * n)
    return [perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]]


def check_inputs(raw: RawJets) -> None:
    """Count non-finite inputs per feature before training (they become missing values); refuse bad kinematics.

    NaN and +-Inf features are read as missing and take the feature's default, so they are said, per feature,
    rather than folded silently into the missing-value count. A jet without a finite pT or eta cannot be
    reweighted, so the dataset is refused, naming how many jets.
    """
    bad = ~np.isfinite(raw.features)
    per = bad.sum(axis=0)
    if per.any():
        order = np.argsort(-per, kind="stable")
        shown = [f"{raw.feature_names[i]} {int(per[i]):,}" for i in order[:5] if per[i]]
        more = int((per > 0).sum()) - len(shown)
        log.info("non-finite input values (NaN or Inf, read as missing), per feature: %s%s", ", ".join(shown),
                 f" and {more} more features" if more > 0 else "")
    kin = ~(np.isfinite(raw.pt) & np.isfinite(raw.eta))
    if kin.any():
        raise DataError(f"{int(kin.sum()):,} of {len(raw):,} jets have a non-finite pT or eta; the (pT, eta) "
                        "reweighting needs both (drop or fix these jets in the dataset)")


def prepare(raw: RawJets, section: PreprocessSection, seed: int | None = None) -> PreparedData:
    """Raw jets in, tensors out: missing values, defaults, split, scaling from the training split, weights.

    ``seed`` drives the split; it defaults to ``section.seed`` (0 when that is unset).
    """
    seed = section.seed if seed is None else seed
    seed = 0 if seed is None else seed
    counts = np.bincount(raw.labels, minlength=len(raw.classes))
    missing = [c for c, k in zip(raw.classes, counts, strict=True) if k == 0]
    if missing:
        raise DataError(f"dataset has no jets of class {', '.join(repr(m) for m in missing)}; "
                        f"counts per class: {dict(zip(raw.classes, counts.tolist(), strict=True))}")
    check_inputs(raw)
    marked = raw.missing.mark(raw.features, raw.feature_names)  # first half of spec.transform
    log.info("%d jets, %d missing values set to defaults", len(raw), int(np.isnan(marked).sum()))
    empty = [n for n, e in zip(raw.feature_names, np.isnan(marked).all(axis=0), strict=True) if e]
    if empty:
        log.warning("missing in every jet, so the model sees only a constant default: %s", ", ".join(empty))
    defaults = feature_defaults(marked)
    idx = split_indices(len(raw), section.split, seed)
    if min(len(i) for i in idx) == 0:
        raise DataError(f"{len(raw)} jets are too few to split into {list(section.split)}")
    mean, std = scaling(marked[idx[0]])
    integer = np.array([n in set(raw.integer_features) for n in raw.feature_names])
    spec = FeatureSpec(raw.feature_names, integer, defaults, mean, std, tuple(raw.classes), raw.missing)
    splits = []
    for ix in idx:
        labels = raw.labels[ix]
        # Weights per split, so each split's flavours follow the target exactly; the thesis uses all jets,
        # which would let test-set kinematics shape the training weights.
        w = kinematic_weights(raw.pt[ix], raw.eta[ix], labels, len(raw.classes), section.reweight,
                              (section.pt_bins, section.eta_bins), section.pt_range, section.eta_range)
        splits.append(Split(spec.fill_and_scale(marked[ix]), labels, w, raw.pt[ix], raw.eta[ix]))
    return PreparedData(spec, *splits)


def prepare_cached(dataset: object, section: PreprocessSection, cache_root: Path, seed: int | None = None,
                   ) -> PreparedData:
    """``prepare(dataset.load())``, reusing a cached result keyed by the dataset and preprocessing config."""
    key = content_id([dataset.cache_key(), section.model_dump(mode="json"), seed, _CACHE_FORMAT], 20)  # type: ignore[attr-defined]
    path = cache_root / "prepared" / f"{key}.npz"
    if section.cache and path.is_file():
        try:
            return _read(path)
        except Exception as exc:  # a damaged cache is rebuilt, not fatal
            log.warning("ignoring unreadable cache %s (%s)", path, exc)
    data = prepare(dataset.load(), section, seed)  # type: ignore[attr-defined]
    if section.cache:
        _write(path, data)
    return data


def _write(path: Path, data: PreparedData) -> None:
    arrays: dict[str, np.ndarray] = {"spec": np.frombuffer(json.dumps(data.spec.to_dict()).encode(), dtype=np.uint8)}
    for name in SPLITS:
        s: Split = getattr(data, name)
        for field in ("x", "y", "w", "pt", "eta"):
            arrays[f"{name}_{field}"] = getattr(s, field)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def _read(path: Path) -> PreparedData:
    with np.load(path, allow_pickle=False) as z:
        spec = FeatureSpec.from_dict(json.loads(z["spec"].tobytes().decode()))
        splits = [Split(*(z[f"{name}_{f}"] for f in ("x", "y", "w", "pt", "eta"))) for name in SPLITS]
    return PreparedData(spec, *splits)
