"""Scoring: a model's metrics on raw inputs and under each attack, and the transferability matrix.

Attacks are keyed by ``Attack.id()`` (name plus a hash of the params), never by display strings.
Random distortions get a stream derived from the evaluation seed and the attack's id, so the same card
gives the same numbers, and every model sees the same noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hepadv.attacks.base import Attack
from hepadv.data.spec import FeatureSpec
from hepadv.evaluation.roc import evaluate_discriminators
from hepadv.progress import Progress
from hepadv.random import RandomStream, derive_seed

RAW = "raw"


@dataclass
class Scored:
    """Metrics per input kind (``raw`` or an attack id), the probabilities, and optionally attacked inputs."""

    metrics: dict[str, dict[str, Any]]
    probs: dict[str, np.ndarray]
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)

    def aucs(self) -> dict[str, dict[str, float | None]]:
        return {key: {d: m["auc"] for d, m in met.items()} for key, met in self.metrics.items()}


def attack_stream(seed: int, attack: Attack) -> RandomStream:
    """The evaluation stream of one attack: depends on the seed and the attack's params, not its position."""
    return RandomStream(derive_seed(seed, "attack", attack.id()))


def probabilities(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> np.ndarray:
    return model.predict_proba(x, batch_size).cpu().numpy()  # type: ignore[operator]


def score_model(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, spec: FeatureSpec, attacks: list[Attack],
                discriminators: list[str], batch_size: int, seed: int, keep_inputs: bool = False,
                progress: Progress | None = None) -> Scored:
    """Metrics of one model on raw inputs and under each attack.

    With ``keep_inputs`` the attacked inputs of model-dependent attacks come back too, so they can be
    replayed against other models (transferability).
    """
    labels = y.cpu().numpy()
    probs = {RAW: probabilities(model, x, batch_size)}
    inputs: dict[str, torch.Tensor] = {}
    for attack in attacks:
        x_adv = attack.generate(model, x, y, spec, attack_stream(seed, attack), progress).x_adv
        probs[attack.id()] = probabilities(model, x_adv, batch_size)
        if keep_inputs and attack.needs_labels:
            inputs[attack.id()] = x_adv
    metrics = {key: evaluate_discriminators(p, labels, names=discriminators, classes=spec.classes)
               for key, p in probs.items()}
    return Scored(metrics, probs, inputs)


def transfer_matrix(models: dict[str, torch.nn.Module], inputs: dict[str, dict[str, torch.Tensor]],
                    labels: np.ndarray, discriminators: list[str], classes: tuple[str, ...],
                    batch_size: int) -> dict[str, Any]:
    """Grey-box check (paper app. B.2): adversarial inputs crafted on each model, scored by every model.

    ``inputs[source][attack_id]`` are the attacked inputs crafted on ``source``; the result is
    ``[attack_id][source][target][discriminator] -> AUC``, the diagonal being the white-box numbers.
    """
    out: dict[str, Any] = {}
    for source, by_attack in inputs.items():
        for attack_id, x_adv in by_attack.items():
            row = out.setdefault(attack_id, {}).setdefault(source, {})
            for target, model in models.items():
                metrics = evaluate_discriminators(probabilities(model, x_adv, batch_size), labels,
                                                  names=discriminators, classes=classes)
                row[target] = {d: m["auc"] for d, m in metrics.items()}
    return out
