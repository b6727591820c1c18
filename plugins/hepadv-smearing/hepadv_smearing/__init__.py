"""hepadv plugin: resolution smearing x -> x * (1 + N(0, sigma^2)) in original units."""

from __future__ import annotations

from typing import ClassVar

import hepadv
from hepadv.registry.hookspecs import Register

__version__ = "0.1.0"


def _smear_class() -> type:
    import torch
    from pydantic import Field

    from hepadv.attacks.base import Attack, AttackParams, FeatureMasks

    class Smear(Attack):
        """Multiplicative Gaussian smearing of continuous inputs in original units (resolution mismodelling).

        Integer features and defaults are untouched; ``seed`` makes a fresh instance reproducible.
        Shapes: x (batch, n_features) in scaled space.
        """

        name: ClassVar[str] = "smear"
        needs_labels: ClassVar[bool] = False

        class Params(AttackParams):
            sigma: float = Field(0.05, ge=0)
            seed: int = 0

        def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                    ) -> torch.Tensor:
            gen = getattr(self, "_generator", None)
            if gen is None or gen.device != x.device:  # one stream per instance: batches get fresh noise
                gen = self._generator = torch.Generator(device=x.device).manual_seed(self.params.seed)
            factor = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype) * self.params.sigma
            x_orig = x * masks.std + masks.mean
            shift_scaled = x_orig * factor / masks.std
            return torch.where(masks.movable(x), x + shift_scaled, x)

    return Smear


@hepadv.hookimpl
def register_attacks(register: Register) -> None:
    register(_smear_class())
