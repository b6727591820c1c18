"""The DeepCSV-like tagger (thesis ch. 2, paper sec. 3.1)."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from hepadv.components import ComponentParams
from hepadv.models.base import Model


class DeepCSV(Model):
    """Fully connected MLP: ``layers`` hidden layers of ``hidden`` ReLU units with dropout, logits out.

    The defaults (67 inputs, 5 x 100, dropout 0.1, 4 classes) give 47,604 parameters as in the thesis.
    """

    name: ClassVar[str] = "deepcsv"

    class Params(ComponentParams):
        hidden: int = Field(100, ge=1)
        layers: int = Field(5, ge=1)
        dropout: float = Field(0.1, ge=0, lt=1)

    def __init__(self, params: Params, n_features: int, n_classes: int) -> None:
        super().__init__(params, n_features, n_classes)
        blocks: list[nn.Module] = []
        width = n_features
        for _ in range(params.layers):
            blocks += [nn.Linear(width, params.hidden), nn.ReLU(), nn.Dropout(params.dropout)]
            width = params.hidden
        blocks.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
