"""Gaussian noise (paper app. B.1): random, model-blind smearing, the mildest kind of mismodelling."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from hepadv.attacks.base import Attack, AttackParams, FeatureMasks
from hepadv.random import RandomStream


class GaussianNoise(Attack):
    """x + N(mu, sigma^2) in scaled space; integers and defaults untouched, eq. 4 cap (0.25 |x|) applied.

    Needs no labels and no gradient, so it also runs on data. The draws come from the caller's
    ``RandomStream`` (evaluation and Data/MC derive it from the card's seed, keyed by row), so the same
    jets get the same noise however the sample is chunked; without a stream (noise augmentation in
    training) they come from torch's global generator, which checkpoints restore.
    """

    name: ClassVar[str] = "gaussian_noise"
    needs_labels: ClassVar[bool] = False

    class Params(AttackParams):
        sigma: float = Field(0.01, ge=0, description="standard deviation, scaled units")
        mu: float = Field(0.0, description="offset, scaled units")
        relative_cap: float | None = Field(0.25, gt=0)

    def short_label(self) -> str:
        mu = f", μ={self.params.mu:g}" if self.params.mu else ""
        return f"noise σ={self.params.sigma:g}{mu}"

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                rng: RandomStream | None = None) -> torch.Tensor:
        p = self.params
        if rng is None:
            z = torch.randn(x.shape, device=x.device, dtype=x.dtype)
        else:
            z = rng.normal(tuple(x.shape), device=x.device, dtype=x.dtype)
        noise = p.mu + p.sigma * z
        return (x + masks.bounded_step(x, noise.sign(), noise.abs(), p.relative_cap)).detach()
