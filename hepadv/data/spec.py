"""The model-input contract that travels with every trained model: ``MissingRules`` and ``FeatureSpec``.

``FeatureSpec.transform`` is the one preprocessing path: raw inputs in original units, as read from any
file (placeholders included), become scaled model inputs. Training, evaluation, attacks and the NanoAOD
processor all call it, so a model is always fed exactly what it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepadv.data.classes import DEEPCSV_CLASSES, discriminators_for
from hepadv.data.deepcsv_features import ABSURD, FEATURES, mark_missing


@dataclass(frozen=True)
class MissingRules:
    """What counts as missing in raw inputs.

    Non-finite values, |x| > ``absurd`` and the listed ``placeholders`` always; with ``deepcsv`` also the
    thesis rules for features named like the DeepCSV inputs (-1 where unphysical, values of tracks the
    jet does not have; see ``deepcsv_features.mark_missing``).
    """

    placeholders: tuple[float, ...] = (-999.0,)
    absurd: float = ABSURD
    deepcsv: bool = True

    def mark(self, raw: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """A float32 copy of ``raw`` (n, len(names)) with every missing value set to NaN."""
        out = np.array(raw, dtype=np.float32, copy=True)
        if out.ndim != 2 or out.shape[1] != len(names):
            raise ValueError(f"raw inputs of shape {out.shape} do not match {len(names)} feature names")
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(out) | (np.abs(out) > self.absurd)
            for value in self.placeholders:
                bad |= out == np.float32(value)
        out[bad] = np.nan
        if self.deepcsv:
            known = set(FEATURES)
            cols = [j for j, n in enumerate(names) if n in known]
            if len(cols) == len(names):
                out, _ = mark_missing(out, names)
            elif cols:
                out[:, cols], _ = mark_missing(out[:, cols], tuple(names[j] for j in cols))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"placeholders": [float(v) for v in self.placeholders], "absurd": float(self.absurd),
                "deepcsv": bool(self.deepcsv)}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> MissingRules:
        if not d:
            return cls()
        return cls(tuple(d.get("placeholders", (-999.0,))), float(d.get("absurd", ABSURD)),
                   bool(d.get("deepcsv", True)))


@dataclass(frozen=True)
class FeatureSpec:
    """Everything an attack, an evaluation or a Data/MC worker needs to know about the model inputs.

    ``defaults`` are in original units (just below each feature's minimum); ``mean``/``std`` scale
    original -> scaled space as (x - mean) / std, computed on the training split excluding defaults.
    Attacks leave ``integer`` features and defaulted values untouched and cap shifts in original units.
    ``classes`` are the model's output classes, which fix the task's discriminators.
    """

    names: tuple[str, ...]
    integer: np.ndarray  # bool (n_features,)
    defaults: np.ndarray  # float64 (n_features,)
    mean: np.ndarray  # float64 (n_features,)
    std: np.ndarray  # float64 (n_features,)
    classes: tuple[str, ...] = DEEPCSV_CLASSES
    missing: MissingRules = field(default_factory=MissingRules)

    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def scaled_defaults(self) -> np.ndarray:
        return (self.defaults - self.mean) / self.std

    @property
    def discriminators(self) -> dict[str, Any]:
        """The task's discriminators by name (BvsL... for DeepCSV, one for a binary task)."""
        return discriminators_for(self.classes)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw inputs (original units, ``names`` order, placeholders as in the files) -> scaled float32.

        Placeholders become missing, missing values take the per-feature default, then everything is
        scaled with the training mean and std: one vectorised call for every data source.
        """
        return self.fill_and_scale(self.missing.mark(raw, self.names))

    def fill_and_scale(self, marked: np.ndarray) -> np.ndarray:
        """The second half of ``transform`` for inputs whose missing values are already NaN."""
        return self.scale(np.where(np.isnan(marked), self.defaults, marked))

    def scale(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def unscale(self, x: np.ndarray) -> np.ndarray:
        return (x * self.std + self.mean).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and strings only, so it can live in a ``weights_only`` checkpoint and in JSON."""
        return {
            "names": list(self.names),
            "integer": [bool(v) for v in self.integer],
            "defaults": [float(v) for v in self.defaults],
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "classes": list(self.classes),
            "missing": self.missing.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(
            names=tuple(d["names"]),
            integer=np.asarray(d["integer"], dtype=bool),
            defaults=np.asarray(d["defaults"], dtype=np.float64),
            mean=np.asarray(d["mean"], dtype=np.float64),
            std=np.asarray(d["std"], dtype=np.float64),
            classes=tuple(d["classes"]),
            missing=MissingRules.from_dict(d.get("missing")),
        )

    def describe_mismatch(self, other: FeatureSpec, rtol: float = 1e-6) -> str | None:
        """None when ``other`` feeds a model exactly like this spec, else the first difference in words."""
        if self.names != other.names:
            for i, (a, b) in enumerate(zip(self.names, other.names, strict=False)):
                if a != b:
                    return f"feature {i} is {a!r} here but {b!r} there"
            return f"{len(self.names)} features here but {len(other.names)} there"
        if self.classes != other.classes:
            return f"classes {list(self.classes)} here but {list(other.classes)} there"
        if self.missing != other.missing:
            return f"missing-value rules {self.missing.to_dict()} here but {other.missing.to_dict()} there"
        for what in ("integer", "defaults", "mean", "std"):
            a, b = getattr(self, what), getattr(other, what)
            same = np.equal(a, b) if what == "integer" else np.isclose(a, b, rtol=rtol, atol=0.0)
            if not same.all():
                j = int(np.flatnonzero(~same)[0])
                return f"feature {self.names[j]!r}: {what} {a[j].item():.7g} here but {b[j].item():.7g} there"
        return None
