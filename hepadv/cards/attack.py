"""Attack cards (``kind: attack``): one attack's parameters for ``hepadv attack``, e.g. ``cards/conservattack.yaml``.

A run card says how models are trained; an attack card says how ``hepadv attack`` attacks them, so the same trained
run can be attacked with many settings without retraining::

    kind: attack
    attack: {name: conservattack, params: {...}}   # params validated by the attack's own Params
    run: adv.yaml          # optional default target (run card or run directory), relative to this card
    split: test            # train, val or test
    max_events: 100000     # optional cap (first N events of the split)
    tuned_on:              # optional: how the params were chosen (a sweep), never on the reported split
      script: scripts/conservattack_sweep.py
      split: val
      max_events: 20000
      target: {min_fooling_ratio: 0.6, max_mean_jsd: 0.05, max_dfn: 0.2}

A card whose params were tuned on the split it reports on is refused: tuning is done on train or val,
figures are reported on another split.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hepadv.cards.schema import Card, ComponentSpec, Section
from hepadv.paths import CardPath

#: Top-level keys of an attack card; ``--set`` keys that start otherwise address ``attack.params``.
ATTACK_CARD_KEYS = ("kind", "attack", "run", "split", "max_events", "tuned_on")


class TuningTarget(Section):
    """The figures a tuned setting had to reach (our target, stated with the card)."""

    min_fooling_ratio: float = Field(ge=0, le=1)
    max_mean_jsd: float = Field(gt=0)
    max_dfn: float = Field(gt=0)


class Tuning(Section):
    """Where the card's params come from: a sweep script, run on a split the card does not report on."""

    script: str
    split: Literal["train", "val"]
    max_events: int | None = Field(None, ge=1)
    variant: str | None = None
    target: TuningTarget | None = None
    rule: str | None = None


class AttackCard(Card):
    kind: Literal["attack"] = "attack"
    attack: ComponentSpec
    run: CardPath | None = Field(None, description="default target: a run card or run directory")
    split: Literal["train", "val", "test"] = "test"
    max_events: int | None = Field(None, ge=1, le=10**9)
    tuned_on: Tuning | None = Field(None, description="how the params were chosen (a sweep on train or val)")

    @model_validator(mode="after")
    def _tuned_off_the_reported_split(self) -> AttackCard:
        if self.tuned_on is not None and self.tuned_on.split == self.split:
            raise ValueError(f"params tuned on the {self.split} split cannot be reported on it; tune on "
                             f"{'val' if self.split != 'val' else 'train'} or report on another split")
        return self

    def component_specs(self) -> list[tuple[str, str, ComponentSpec]]:
        return [("attack", "attack", self.attack)]

    def summary(self) -> str:
        return f"attack card: {self.attack.name} on the {self.split} split"


def attack_override(item: str) -> str:
    """``--set alpha=2`` on an attack card means ``attack.params.alpha=2``; card keys stay as they are."""
    key = item.partition("=")[0].strip()
    return item if key.split(".")[0] in ATTACK_CARD_KEYS else f"attack.params.{item}"


__all__ = ["ATTACK_CARD_KEYS", "AttackCard", "Tuning", "TuningTarget", "attack_override"]
