"""Fast Gradient Sign Method (paper eq. 3 and the capped evaluation variant, eq. 4)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

from hepadv.attacks.base import Attack, AttackParams, FeatureMasks


def loss_gradient(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d CE / d x for a batch, without touching the model's parameter gradients.

    Cross entropy, not the focal training loss: with gamma = 25 the focal gradient underflows to
    exactly zero for well-classified jets, and sign(0) = 0 would leave them unattacked.
    """
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
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
                ) -> torch.Tensor:
        if y is None:
            raise ValueError("FGSM needs truth labels")
        grad = loss_gradient(model, x, y)
        step = masks.bounded_step(x, grad.sign(), self.params.epsilon, self.params.relative_cap)
        return (x + step).detach()
