"""Dataset-level attacks: they see the whole set at once (statistics over all events, many iterations).

Per-event attacks (``hepadv.attacks.base.Attack``) perturb one batch at a time. A dataset-level attack
such as CONSERVAttack constrains what changes over the whole sample (histograms, correlations), so it takes
the full scaled set and returns the adversarial set, which events it fooled and a per-iteration history.
Both kinds register through the same ``register_attacks`` hook; ``kind`` tells them apart.
Integer features and defaulted values never move: ``run`` restores them bit for bit whatever ``attack`` did.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from hepadv.attacks.base import FeatureMasks
from hepadv.components import Component, ComponentParams
from hepadv.data.base import FeatureSpec


class DatasetAttackParams(ComponentParams):
    """Parameters common to dataset-level attacks (none yet; subclasses add theirs)."""


@dataclass
class DatasetAttackResult:
    """What a dataset-level attack returns.

    ``x_adv``: (n, d) scaled inputs, same dtype and device as the input; ``fooled``: (n,) bool, by the
    attack's own definition; ``history``: one dict per iteration (figures the attack tracked while running);
    ``info``: anything else worth reporting (regions, thresholds, excluded features).
    """

    x_adv: torch.Tensor
    fooled: torch.Tensor
    history: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


class DatasetAttack(Component):
    """Base class. Subclasses implement ``attack``; ``run`` handles model state and frozen features."""

    name: ClassVar[str]
    Params: ClassVar[type[ComponentParams]] = DatasetAttackParams
    needs_labels: ClassVar[bool] = True
    kind: ClassVar[str] = "dataset"

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        self.params = self.parse_params({**(params or {}), **kwargs} if not isinstance(params, ComponentParams)
                                        else params)

    def run(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
            rng: Any = None, progress: bool = False) -> DatasetAttackResult:
        """Attack the whole set ``x`` (n, d) scaled; ``y`` (n,) class indices (None if not ``needs_labels``).

        ``rng``: a seed, a ``torch.Generator`` or a stream with ``.uniform(shape, device=...)``; None uses the
        attack's own ``seed`` parameter where it has one.
        """
        if x.ndim != 2 or x.shape[1] != spec.n_features:
            raise ValueError(f"x must be (n, {spec.n_features}) for this FeatureSpec, got {tuple(x.shape)}")
        if self.needs_labels and y is None:
            raise ValueError(f"{self.name} needs truth labels")
        self.check(spec)
        was_training = model.training
        model.eval()
        try:
            masks = FeatureMasks.from_spec(spec, x.device)
            result = self.attack(model, x, y, spec, masks, rng, progress)
        finally:
            model.train(was_training)
        frozen = ~masks.movable(x)
        result.x_adv = torch.where(frozen, x, result.x_adv.to(x.dtype))
        return result

    def check(self, spec: FeatureSpec) -> None:
        """Raise a one-line ``HepadvError`` if the params do not fit this model's features (before any work)."""

    def attack(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
               masks: FeatureMasks, rng: Any, progress: bool) -> DatasetAttackResult:
        raise NotImplementedError

    def short_label(self) -> str:
        return self.name

    def label(self) -> str:
        """Text for tables: ``name(k=v, ...)`` with every parameter."""
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in self.params.model_dump().items()) + ")"

    def id(self) -> str:
        """Stable id ``<name>-<8 hex of the params JSON>``: equal params give equal output directories."""
        blob = json.dumps(self.params.model_dump(mode="json"), sort_keys=True)
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def attack_kind(cls: type) -> str:
    """``"dataset"`` or ``"event"`` for any registered attack class (per-event ones predate ``kind``)."""
    return getattr(cls, "kind", "event")
