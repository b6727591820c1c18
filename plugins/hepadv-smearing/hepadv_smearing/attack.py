"""The ``smear`` distortion: multiplicative Gaussian smearing of continuous inputs (resolution mismodelling)."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from hepadv.attacks.base import Attack, AttackParams, FeatureMasks
from hepadv.random import RandomStream


class Smear(Attack):
    """x -> x * (1 + sigma z), z ~ N(0, 1), in original units; integer features and defaults untouched.

    Label-free. The draws come from the caller's random stream (so chunked runs reproduce one pass),
    or from torch's global generator when there is none (training). Shapes: x (batch, n_features) scaled.
    """

    name: ClassVar[str] = "smear"
    needs_labels: ClassVar[bool] = False

    class Params(AttackParams):
        sigma: float = Field(0.05, ge=0, description="relative resolution")

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                rng: RandomStream | None = None) -> torch.Tensor:
        if rng is None:
            z = torch.randn(x.shape, device=x.device, dtype=x.dtype)
        else:
            z = rng.normal(tuple(x.shape), device=x.device, dtype=x.dtype)
        x_orig = x * masks.std + masks.mean
        shift_scaled = x_orig * z * self.params.sigma / masks.std
        return torch.where(masks.movable(x), x + shift_scaled, x)
