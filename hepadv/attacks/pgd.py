"""Projected Gradient Descent (Madry et al.; thesis sec. 5.2): iterated FGSM inside the eps-ball."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from hepadv.attacks.base import Attack, AttackParams, FeatureMasks
from hepadv.attacks.fgsm import loss_gradient
from hepadv.random import RandomStream


class PGD(Attack):
    """``steps`` signed-gradient steps of ``step_size``, each projected back onto the ball around x.

    The ball is FGSM's: per feature, |shift| <= epsilon in scaled units and, with ``relative_cap``,
    <= relative_cap * |x| in original units (paper eq. 4); integer features and defaults never move.
    FGSM is the one-step case (``steps: 1``, ``step_size`` = epsilon). ``step_size`` defaults to
    2.5 epsilon / steps, so the walk can cross the ball and still turn back. With ``random_start``
    the walk starts at a uniform point of the ball, drawn from the caller's random stream (evaluation
    derives it from the card's seed) or, inside adversarial training, from the training RNG that
    checkpoints restore.
    """

    name: ClassVar[str] = "pgd"

    class Params(AttackParams):
        epsilon: float = Field(0.01, ge=0)
        relative_cap: float | None = Field(0.25, gt=0)
        steps: int = Field(10, ge=1, le=1000)
        step_size: float | None = Field(None, gt=0, description="scaled units; default 2.5 epsilon / steps")
        random_start: bool = False

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                rng: RandomStream | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("PGD needs truth labels")
        p = self.params
        x0 = x.detach()
        radius = masks.bounded_step(x0, torch.ones_like(x0), p.epsilon, p.relative_cap)  # 0 where frozen
        alpha = p.step_size if p.step_size is not None else 2.5 * p.epsilon / p.steps
        x_adv = x0
        if p.random_start:
            if rng is None:
                u = torch.rand(x0.shape, device=x0.device, dtype=x0.dtype)
            else:
                u = rng.uniform(tuple(x0.shape), device=x0.device, dtype=x0.dtype)
            x_adv = x0 + (2 * u - 1) * radius
        for _ in range(p.steps):
            step = alpha * loss_gradient(model, x_adv, y).sign()
            x_adv = x0 + torch.clamp(x_adv + step - x0, -radius, radius)
        return x_adv.detach()
