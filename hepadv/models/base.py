"""Model interface: a torch module built from (params, n_features, n_classes) that returns logits.

Softmax is applied in exactly one place, ``predict_proba`` (the reference code applied it twice).
``attack_loss`` is what attacks differentiate, so a model with another output convention (one logit,
a regression head) tells attacks how to be attacked.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from hepadv.components import Component


class Model(nn.Module, Component):
    name: ClassVar[str]

    def __init__(self, params: Any, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.params = params
        self.n_features = n_features
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, n_features) -> (batch, n_classes) logits
        raise NotImplementedError

    def attack_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Summed cross entropy over class indices: the loss an attack raises (per-jet gradients stay unscaled)."""
        return F.cross_entropy(logits, y, reduction="sum")

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
        """Class probabilities in eval mode, batched; the model's train/eval state is restored."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat([torch.softmax(self(x[i : i + batch_size]), dim=1) for i in range(0, len(x), batch_size)])
        finally:
            self.train(was_training)

    def describe(self) -> dict[str, Any]:
        """What a checkpoint must record to rebuild this model."""
        return {
            "name": self.name,
            "params": self.params.model_dump(mode="json"),
            "n_features": self.n_features,
            "n_classes": self.n_classes,
        }


def attack_loss(model: nn.Module, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``model.attack_loss`` where the model defines one, else summed cross entropy (plain torch modules)."""
    method = getattr(model, "attack_loss", None)
    return method(logits, y) if method is not None else F.cross_entropy(logits, y, reduction="sum")


def build_model(name: str, params: Any, n_features: int, n_classes: int) -> Model:
    from hepadv import get_model

    cls = get_model(name)
    return cls(cls.parse_params(params), n_features, n_classes)


def model_from_description(description: dict[str, Any]) -> Model:
    """Rebuild an (untrained) model from ``Model.describe()``: a registry lookup, no card needed."""
    return build_model(description["name"], description["params"], int(description["n_features"]),
                       int(description["n_classes"]))
