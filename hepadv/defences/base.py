"""Defence interface. A training defence replaces the per-batch loss of the training loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from hepadv.components import Component
from hepadv.data.masks import FeatureMasks

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, y, w) -> scalar


class Defence(Component):
    """A defence named in a card; what it does is given by its base class (``TrainingDefence``, ...)."""

    name: ClassVar[str]

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        self.params = self.parse_params(params if params is not None else kwargs)


class TrainingStrategy:
    """Nominal training: the loss of the raw batch. Training defences override ``batch_loss``."""

    name = "nominal"

    def batch_loss(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
                   loss_fn: LossFn, masks: FeatureMasks) -> torch.Tensor:
        return loss_fn(model(x), y, w)


class TrainingDefence(Defence, TrainingStrategy):
    """A defence that is a training strategy."""
