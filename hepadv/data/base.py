"""What every dataset hands to preprocessing, and the FeatureSpec that travels with a trained model.

Datasets return raw jets (``RawJets``) in original units with every missing or unphysical value
already turned into NaN; preprocessing places the defaults, scales and splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hepadv.components import Component

#: DeepCSV output classes in the thesis order.
DEEPCSV_CLASSES: tuple[str, ...] = ("b", "bb", "c", "udsg")


@dataclass
class RawJets:
    """Jets as a dataset delivers them.

    ``features``: float32 (n_jets, n_features), original units, NaN where a value is missing/invalid.
    ``labels``: int64 (n_jets,), index into ``classes``.
    ``pt``, ``eta``: float32 (n_jets,), used for the kinematic reweighting.
    """

    features: np.ndarray
    labels: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    feature_names: tuple[str, ...]
    integer_features: tuple[str, ...]
    classes: tuple[str, ...] = DEEPCSV_CLASSES

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.features.ndim != 2 or self.features.shape != (n, len(self.feature_names)):
            raise ValueError(
                f"features shape {self.features.shape} does not match {n} labels x {len(self.feature_names)} names"
            )
        if len(self.pt) != n or len(self.eta) != n:
            raise ValueError("pt and eta must have one entry per jet")

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class FeatureSpec:
    """Everything an attack or an evaluation needs to know about the model inputs.

    ``defaults`` are in original units (just below each feature's minimum); ``mean``/``std`` scale
    original -> scaled space as (x - mean) / std, computed on the training split excluding defaults.
    Attacks leave ``integer`` features and defaulted values untouched and cap shifts in original units.
    """

    names: tuple[str, ...]
    integer: np.ndarray  # bool (n_features,)
    defaults: np.ndarray  # float64 (n_features,)
    mean: np.ndarray  # float64 (n_features,)
    std: np.ndarray  # float64 (n_features,)
    classes: tuple[str, ...] = DEEPCSV_CLASSES

    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def scaled_defaults(self) -> np.ndarray:
        return (self.defaults - self.mean) / self.std

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
        )


class Dataset(Component):
    """A source of labelled jets. Subclasses set ``name``, ``Params`` and implement ``load``."""

    name: ClassVar[str]

    def __init__(self, params: Any) -> None:
        self.params = params

    def load(self) -> RawJets:
        raise NotImplementedError

    def cache_key(self) -> str:
        """Identifies the loaded content for caching preprocessed tensors (params + file stats)."""
        return f"{self.name}:{self.params.model_dump_json()}"
