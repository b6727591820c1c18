"""Defence interface. A training defence replaces the per-batch loss of the training loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from hepadv.components import Component
from hepadv.data.masks import FeatureMasks
from hepadv.progress import Progress

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


class FilterDefence(Defence):
    """A defence in front of a trained model: it scores inputs and rejects the ones it judges adversarial.

    Subclasses implement ``fit`` (on clean and adversarial inputs, scaled), ``score`` (probability that an
    input is clean) and ``state_dict``/``load_state_dict`` (plain tensors, for ``weights_only`` loading).
    The detector pipeline (``hepadv defend``) works with any registered filter.
    """

    pipeline: ClassVar[str] = "detector"

    def fit(self, clean: torch.Tensor, adversarial: torch.Tensor, clean_val: torch.Tensor,
            adversarial_val: torch.Tensor, seed: int, progress: Progress | None = None) -> dict[str, Any]:
        """Train on (clean = 1, adversarial = 0); return a small history for the record."""
        raise NotImplementedError

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """(n,) probability that each input is clean."""
        raise NotImplementedError

    @property
    def threshold(self) -> float:
        return float(getattr(self.params, "threshold", 0.5))

    def accepts(self, x: torch.Tensor) -> torch.Tensor:
        """(n,) bool: inputs the filter lets through (score >= threshold)."""
        return self.score(x) >= self.threshold

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any], n_features: int) -> None:
        raise NotImplementedError


class RetrainingDefence(Defence):
    """A defence that retrains the model on a training set extended with adversaries (augmentation,
    iterative adversarial training); ``pipeline`` names the ``hepadv defend`` pipeline that runs it."""

    pipeline: ClassVar[str]
