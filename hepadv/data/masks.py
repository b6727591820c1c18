"""``FeatureMasks``: what a perturbation may move, and by how much, derived once from a ``FeatureSpec``.

Shared by every per-event attack, by training strategies and by the Data/MC distortions: integer
features and defaulted values never move; shifts can be capped in original units (paper eq. 4).
"""

from __future__ import annotations

from typing import Any

import torch

from hepadv.data.spec import FeatureSpec


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
