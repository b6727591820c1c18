"""What every dataset hands to preprocessing, and the FeatureSpec that travels with a trained model.

Datasets return raw jets (``RawJets``) in original units, placeholders as in their files, together with
the ``MissingRules`` that recognise those placeholders; ``FeatureSpec.transform`` does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from hepadv.components import Component
from hepadv.data.spec import DEEPCSV_CLASSES, FeatureSpec, MissingRules

__all__ = ["DEEPCSV_CLASSES", "Dataset", "FeatureSpec", "MissingRules", "RawJets"]


@dataclass
class RawJets:
    """Jets as a dataset delivers them.

    ``features``: float32 (n_jets, n_features), original units, placeholders (NaN, -999, ...) as read;
    ``missing`` says which values are placeholders.
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
    missing: MissingRules = field(default_factory=MissingRules)

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

    def marked(self) -> np.ndarray:
        """Features with every missing value as NaN (the first half of ``FeatureSpec.transform``)."""
        return self.missing.mark(self.features, self.feature_names)


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
