"""One way to craft adversaries with ANY registered attack: per-event (``Attack.__call__``, batched) or
dataset-level (``DatasetAttack.run``, the whole set at once, e.g. CONSERVAttack).

Every defence pipeline goes through ``craft`` and ``fooled_by``, so a third-party attack works everywhere
once registered. Fooling is the paper's eq. 5 for the scoring model: its predicted class changes,
f(x') != f(x), so white-box and grey-box fooling ratios are measured the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hepadv.data.spec import FeatureSpec
from hepadv.errors import HepadvError
from hepadv.random import RandomStream, derive_seed


def is_dataset_attack(attack: Any) -> bool:
    """Dataset-level attacks declare ``kind = "dataset"`` and implement ``run``."""
    return getattr(type(attack), "kind", "per-event") == "dataset" and callable(getattr(attack, "run", None))


def craft(attack: Any, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
          seed: int, progress: bool = False) -> torch.Tensor:
    """Adversarial copy of ``x`` (n, d) scaled, crafted on ``model``; ``seed`` fixes any random draws.

    ``y`` may be None only for label-free attacks; an attack that needs labels gets a one-line error.
    """
    if attack.needs_labels and y is None:
        raise HepadvError(f"attack {attack.name!r} needs truth labels, but this sample has none; use a "
                          "label-free attack (e.g. gaussian_noise, systematic_shift)")
    labels = y if attack.needs_labels else None
    if len(x) == 0:
        return x.clone()
    if is_dataset_attack(attack):
        result = attack.run(model, x, labels, spec, rng=int(seed % (2**31)), progress=progress)
        return result.x_adv.detach()
    return attack(model, x, labels, spec, RandomStream(seed)).detach()


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


def describe_attack(attack: Any) -> dict[str, Any]:
    """The attack as data for metrics files, for either kind (dataset-level attacks have no ``describe``)."""
    own = getattr(attack, "describe", None)
    if callable(own):
        return dict(own())
    params = attack.params.model_dump(mode="json")
    return {"id": attack.id(), "name": attack.name, "params": params, "label": attack.label(),
            "needs_labels": attack.needs_labels, "kind": getattr(type(attack), "kind", "dataset")}
