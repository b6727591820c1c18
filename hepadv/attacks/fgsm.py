"""Fast Gradient Sign Method (paper eq. 3 and the capped evaluation variant, eq. 4)."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from hepadv.attacks.base import Attack, AttackParams, FeatureMasks
from hepadv.models.base import attack_loss
from hepadv.random import RandomStream


def loss_gradient(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d J / d x for a batch, J the model's ``attack_loss``; the parameter gradients are not touched.

    J is the model's attack loss (summed cross entropy by default), not the focal training loss: with
    gamma = 25 the focal gradient underflows to exactly zero for well-classified jets, and sign(0) = 0
    would leave them unattacked.
    """
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(attack_loss(model, model(x), y), x)
    return grad


class FGSM(Attack):
    """x_adv = x + epsilon * sign(grad_x J(x, y)) in scaled space (Goodfellow et al.; paper eq. 3).

    Integer features and defaulted values stay untouched. With ``relative_cap`` (default 0.25, paper
    eq. 4) the shift in original units is at most min(epsilon * std, relative_cap * |x|); set it to
    null for the uncapped eq. 3. Shapes: x (batch, n_features) scaled, y (batch,) class indices.
    """

    name: ClassVar[str] = "fgsm"

    class Params(AttackParams):
        epsilon: float = Field(0.01, ge=0)
        relative_cap: float | None = Field(0.25, gt=0)

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                rng: RandomStream | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("FGSM needs truth labels")
        grad = loss_gradient(model, x, y)
        step = masks.bounded_step(x, grad.sign(), self.params.epsilon, self.params.relative_cap)
        return (x + step).detach()
