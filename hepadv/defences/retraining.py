"""Retraining defences (seed 004 sec. 6-7): the model is trained again on a training set extended with adversaries.

``augmentation``: adversaries of the (deliberately small) training set shuffled in, retrained from scratch.
``iterative_adversarial_training``: each iteration draws the attack's parameters from the card's ranges,
crafts adversaries of the training set on the run's initial model and adds them to the cumulative training
set (initial + every earlier iteration's adversaries), then trains from scratch on it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from hepadv.components import ComponentParams
from hepadv.defences.base import RetrainingDefence


class Augmentation(RetrainingDefence):
    """Adversarial data augmentation (sec. 6, figs. 9-10)."""

    name: ClassVar[str] = "augmentation"
    pipeline: ClassVar[str] = "augmentation"

    class Params(ComponentParams):
        only_fooling: bool = Field(True, description="add only adversaries that fool the base model (the paper: "
                                                     "at most one per clean input, FR 1 doubles the set)")


class IterativeAdversarialTraining(RetrainingDefence):
    """Cumulative iterative adversarial training (sec. 7, figs. 11-12)."""

    name: ClassVar[str] = "iterative_adversarial_training"
    pipeline: ClassVar[str] = "iterative"

    class Params(ComponentParams):
        iterations: int = Field(5, ge=1, le=100, description="retraining iterations (paper: 10 Higgs, 5 TT vs WW)")
        train_attack: dict[str, Any] = Field(default_factory=dict, description=(
            "params of the card's attack for the training adversaries; values may be ranges such as "
            "\"[0.001, 0.005] (uniform)\", drawn afresh each iteration (unset keys: the card's attack params)"))
        only_fooling: bool = Field(True, description="add only adversaries that fool the initial model")
