"""Crafting adversaries for the defence pipelines with any registered attack (``Attack.generate``, per-event or
dataset-level alike), and deciding which ones fool a model.

Every defence pipeline goes through ``craft`` and ``fooled_by``, so a third-party attack works everywhere
once registered. Fooling is the paper's eq. 5 for the scoring model: its predicted class changes,
f(x') != f(x), so white-box and grey-box fooling ratios are measured the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hepadv.data.spec import FeatureSpec
from hepadv.progress import Progress
from hepadv.random import RandomStream, derive_seed


def craft(attack: Any, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
          seed: int, progress: Progress | None = None) -> torch.Tensor:
    """Adversarial copy of ``x`` (n, d) scaled, crafted on ``model``; ``seed`` fixes any random draws.

    ``y`` may be None only for label-free attacks; an attack that needs labels gets a one-line error.
    """
    return attack.generate(model, x, y, spec, RandomStream(seed), progress).x_adv.detach()


@torch.no_grad()
def predicted_class(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 65536) -> np.ndarray:
    """argmax of the model's outputs per event, batched, in eval mode (state restored)."""
    was_training = model.training
    model.eval()
    try:
        out = [model(x[i : i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).cpu().numpy() if out else np.zeros(0, dtype=np.int64)


def fooled_by(model: torch.nn.Module, x_clean: torch.Tensor, x_adv: torch.Tensor) -> np.ndarray:
    """(n,) bool: the model's predicted class differs between the clean and the adversarial event (eq. 5)."""
    return predicted_class(model, x_clean) != predicted_class(model, x_adv)


def attack_seed(seed: int, run: int, split: str, tag: str = "") -> int:
    """Seed of the attack on one run's split (and, for iterative training, one iteration ``tag``)."""
    return derive_seed(seed, "defence-attack", run, split, tag)


