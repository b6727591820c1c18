"""Per-event attack interface: ``attack(model, x, y, spec, rng) -> x_adv`` in scaled space.

Integer features and defaulted values are never touched (``FeatureMasks``); with ``relative_cap`` the
shift in original units is limited to ``|relative_cap * x|`` (paper eq. 4). Attacks keep no mutable
state: random ones draw from the ``RandomStream`` the caller passes, so chunked runs reproduce one pass.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

import torch
from pydantic import Field

from hepadv.components import Component, ComponentParams
from hepadv.data.masks import FeatureMasks
from hepadv.data.spec import FeatureSpec
from hepadv.random import RandomStream

__all__ = ["Attack", "AttackParams", "FeatureMasks"]


class AttackParams(ComponentParams):
    batch_size: int = Field(65536, ge=1)


class Attack(Component):
    """Base class. Subclasses implement ``perturb`` on one batch; ``__call__`` batches and keeps model state.

    ``needs_labels`` False declares a label-free distortion (noise, shifts): it runs on data too and is
    left out of the transferability matrix, since it ignores the model.
    """

    name: ClassVar[str]
    kind: ClassVar[str] = "per-event"
    Params: ClassVar[type[AttackParams]] = AttackParams
    needs_labels: ClassVar[bool] = True

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        self.params = self.parse_params({**(params or {}), **kwargs} if not isinstance(params, ComponentParams)
                                        else params)

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
                 rng: RandomStream | None = None) -> torch.Tensor:
        """Perturb ``x`` batch by batch; batch i gets ``rng.at(start of batch i)``, so batching never matters."""
        was_training = model.training
        model.eval()
        try:
            masks = FeatureMasks.from_spec(spec, x.device)
            bs = self.params.batch_size
            out = [self.perturb(model, x[i : i + bs], None if y is None else y[i : i + bs], masks,
                                None if rng is None else rng.at(i))
                   for i in range(0, len(x), bs)]
            return torch.cat(out) if out else x.clone()
        finally:
            model.train(was_training)

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                rng: RandomStream | None) -> torch.Tensor:
        """Perturbed copy of one batch; ``rng`` None means draw from torch's global generator."""
        raise NotImplementedError

    def short_label(self) -> str:
        """Legend text, e.g. ``fgsm ε=0.01``."""
        eps = getattr(self.params, "epsilon", None)
        return self.name if eps is None else f"{self.name} ε={eps:g}"

    def label(self) -> str:
        """Text for tables, e.g. ``fgsm(epsilon=0.01, relative_cap=0.25)``."""
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in self.main_params().items()) + ")"

    def main_params(self) -> dict[str, Any]:
        """The params that change the result (``batch_size`` does not)."""
        return {k: v for k, v in self.params.model_dump(mode="json").items() if k != "batch_size"}

    def id(self) -> str:
        """Stable key for results: the name plus a hash of the params, e.g. ``fgsm-1f0c3a9b``."""
        blob = json.dumps(self.main_params(), sort_keys=True)
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"

    def describe(self) -> dict[str, Any]:
        """The attack as data, for metrics files: id, name, params, labels."""
        return {"id": self.id(), "name": self.name, "params": self.main_params(), "label": self.short_label(),
                "needs_labels": self.needs_labels}
