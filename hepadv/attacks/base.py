"""Attack interface and the per-feature rules every per-event attack shares.

An attack maps scaled inputs to perturbed scaled inputs: ``attack(model, x, y, spec) -> x_adv``.
Integer features and defaulted values are never touched; with ``relative_cap`` the shift in
original units is limited to ``|relative_cap * x|`` (paper eq. 4).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field

from hepadv.components import Component, ComponentParams
from hepadv.data.base import FeatureSpec


class AttackParams(ComponentParams):
    batch_size: int = Field(65536, ge=1)


class Attack(Component):
    """Base class. Subclasses implement ``perturb`` on one batch; ``__call__`` batches and keeps model state."""

    name: ClassVar[str]
    Params: ClassVar[type[AttackParams]] = AttackParams
    needs_labels: ClassVar[bool] = True

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        self.params = self.parse_params({**(params or {}), **kwargs} if not isinstance(params, ComponentParams)
                                        else params)

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
                 ) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            masks = FeatureMasks.from_spec(spec, x.device)
            out = [self.perturb(model, x[i : i + self.params.batch_size],
                                None if y is None else y[i : i + self.params.batch_size], masks)
                   for i in range(0, len(x), self.params.batch_size)]
            return torch.cat(out) if out else x.clone()
        finally:
            model.train(was_training)

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                ) -> torch.Tensor:
        raise NotImplementedError

    def short_label(self) -> str:
        """Legend text, e.g. ``fgsm ε=0.01``."""
        eps = getattr(self.params, "epsilon", None)
        return self.name if eps is None else f"{self.name} ε={eps:g}"

    def label(self) -> str:
        """Short text for tables and legends, e.g. ``fgsm(epsilon=0.01)``."""
        main = {k: v for k, v in self.params.model_dump().items() if k != "batch_size"}
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in main.items()) + ")"


class FeatureMasks:
    """Tensors derived once per call from the FeatureSpec: what may move, and by how much."""

    def __init__(self, integer: torch.Tensor, scaled_defaults: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                 names: tuple[str, ...] = ()):
        self.names = names  # feature names, for attacks configured per feature
        self.integer = integer  # (n_features,) bool
        self.scaled_defaults = scaled_defaults  # (n_features,)
        self.mean = mean
        self.std = std
        # defaults sit 0.001 (original units) below the minimum: match within a quarter of that gap
        self.default_tolerance = (0.25e-3 / std).clamp(min=1e-6, max=1e-5)

    @classmethod
    def from_spec(cls, spec: FeatureSpec, device: torch.device | str) -> FeatureMasks:
        def t(a: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.as_tensor(a, dtype=dtype, device=device)

        return cls(t(spec.integer, torch.bool), t(spec.scaled_defaults), t(spec.mean), t(spec.std), tuple(spec.names))

    def movable(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_features) bool: continuous features that are not at their default value."""
        at_default = (x - self.scaled_defaults).abs() <= self.default_tolerance
        return ~at_default & ~self.integer

    def bounded_step(self, x: torch.Tensor, direction: torch.Tensor, epsilon: float | torch.Tensor,
                     relative_cap: float | None) -> torch.Tensor:
        """Scaled-space step ``epsilon * direction`` on movable features, capped in original units (eq. 4).

        ``epsilon`` is a number or a tensor broadcastable to x (per feature or per value, >= 0). With the
        cap, |shift in original units| <= min(epsilon * std, relative_cap * |x_original|).
        """
        if isinstance(epsilon, torch.Tensor):
            size = epsilon.to(x.dtype).expand_as(x)
        else:
            size = torch.full_like(x, float(epsilon))
        if relative_cap is not None:
            x_orig = x * self.std + self.mean
            size = torch.minimum(size, relative_cap * x_orig.abs() / self.std)
        return torch.where(self.movable(x), direction * size, torch.zeros_like(x))
