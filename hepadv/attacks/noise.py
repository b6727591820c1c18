"""Gaussian noise (paper app. B.1): random, model-blind smearing, the mildest kind of mismodelling."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from hepadv.attacks.base import Attack, AttackParams, FeatureMasks
from hepadv.data.base import FeatureSpec


class GaussianNoise(Attack):
    """x + N(mu, sigma^2) in scaled space; integers and defaults untouched, eq. 4 cap (0.25 |x|) applied.

    Needs no labels and no gradient, so it also runs on data. ``seed`` makes a call reproducible (the
    same jets get the same noise); with ``seed: null`` the draws come from torch's global generator,
    which is what training with noise augmentation wants.
    """

    name: ClassVar[str] = "gaussian_noise"
    needs_labels: ClassVar[bool] = False

    class Params(AttackParams):
        sigma: float = Field(0.01, ge=0, description="standard deviation, scaled units")
        mu: float = Field(0.0, description="offset, scaled units")
        relative_cap: float | None = Field(0.25, gt=0)
        seed: int | None = Field(0, ge=0)

    _generator: torch.Generator | None = None

    def short_label(self) -> str:
        mu = f", μ={self.params.mu:g}" if self.params.mu else ""
        return f"noise σ={self.params.sigma:g}{mu}"

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
                 ) -> torch.Tensor:
        if self.params.seed is not None:  # one stream per call, so batches get different noise
            self._generator = torch.Generator(device=x.device).manual_seed(self.params.seed)
        try:
            return super().__call__(model, x, y, spec)
        finally:
            self._generator = None

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                ) -> torch.Tensor:
        p = self.params
        z = torch.randn(x.shape, generator=self._generator, device=x.device, dtype=x.dtype)
        noise = p.mu + p.sigma * z
        return (x + masks.bounded_step(x, noise.sign(), noise.abs(), p.relative_cap)).detach()
