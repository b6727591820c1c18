"""Adversarial training (paper sec. 3.4, thesis eq. 5.1): the model learns on attacked minibatches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from pydantic import Field, field_validator

from hepadv.components import ComponentParams
from hepadv.data.masks import FeatureMasks
from hepadv.defences.base import LossFn, TrainingDefence


@contextmanager
def crafting(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode (no dropout noise, as at evaluation time) and frozen parameters while an attack is crafted.

    With the parameters frozen the attack's backward pass computes the input gradient only: the eager
    autograd engine would skip the weight gradients anyway, but a compiled graph computes every gradient its
    inputs require. Both states are restored afterwards.
    """
    was_training = model.training
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)
        model.train(was_training)


class AdversarialTraining(TrainingDefence):
    """Every minibatch is attacked (FGSM, epsilon = 0.01 by default) before forward and backward.

    With ``mix_alpha`` = a the loss is a J(x) + (1 - a) J(x_adv) (thesis eq. 5.1); without it the
    model never sees raw inputs (the paper's setting). Integer features and defaults stay untouched.
    The attack is any registered per-event attack: ``fgsm``, or ``pgd`` for PGD training (its ``steps``,
    ``step_size``, ``random_start`` in ``attack_params``), at about (steps + 1) x the nominal epoch time,
    or ``gaussian_noise`` for noise augmentation. ``epsilon`` and ``relative_cap`` go to attacks that have them.
    """

    name: ClassVar[str] = "adversarial_training"

    class Params(ComponentParams):
        attack: str = "fgsm"
        epsilon: float = Field(0.01, ge=0)
        relative_cap: float | None = Field(None, gt=0)
        mix_alpha: float | None = Field(None, ge=0, le=1)
        attack_params: dict[str, Any] = Field(default_factory=dict)

        @field_validator("attack")
        @classmethod
        def _per_event(cls, name: str) -> str:
            """Every minibatch is attacked on its own: a dataset-level attack has no meaning here."""
            from hepadv import get_attack
            from hepadv.errors import UnknownComponentError

            try:
                attack_cls = get_attack(name)
            except UnknownComponentError as exc:
                raise ValueError(str(exc)) from None
            if attack_cls.kind != "per-event":
                raise ValueError(f"{name!r} is a dataset-level attack; adversarial training attacks each minibatch "
                                 "and needs a per-event one (fgsm, pgd, ...); for CONSERVAttack adversaries use "
                                 "hepadv defend with iterative_adversarial_training")
            return name

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        from hepadv import get_attack

        p = self.params
        attack_cls = get_attack(p.attack)
        fields = attack_cls.Params.model_fields
        shared = {k: v for k, v in (("epsilon", p.epsilon), ("relative_cap", p.relative_cap)) if k in fields}
        self.attack = attack_cls({**shared, **p.attack_params})

    @property
    def graph_safe(self) -> bool:
        """Whether the batch loss may be replayed from a CUDA graph (``hepadv.training.step.graph_safe``).

        True for hepadv's own FGSM and PGD: kernels only, random starts drawn on the device, no state kept
        between batches. Any other attack (a plugin's, or noise drawn from its own generator) runs eagerly.
        """
        from hepadv.attacks.fgsm import FGSM
        from hepadv.attacks.pgd import PGD

        return type(self.attack) in (FGSM, PGD)

    def batch_loss(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
                   loss_fn: LossFn, masks: FeatureMasks) -> torch.Tensor:
        with crafting(model):
            # no random stream: random draws follow the training RNG, which checkpoints restore on --resume
            x_adv = self.attack.perturb_batch(model, x, y, masks, None)
        loss_adv = loss_fn(model(x_adv), y, w)
        if self.params.mix_alpha is None:
            return loss_adv
        a = self.params.mix_alpha
        return a * loss_fn(model(x), y, w) + (1 - a) * loss_adv
