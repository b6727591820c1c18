"""Attack cards (``kind: attack``): one attack's parameters for ``hepadv attack``, e.g. ``cards/conservattack.yaml``.

A run card says how models are trained; an attack card says how ``hepadv attack`` attacks them, so the same trained
run can be attacked with many settings without retraining::

    kind: attack
    attack: {name: conservattack, params: {...}}   # params validated by the attack's own Params
    run: adv.yaml          # optional default target (run card or run directory), relative to this card
    split: test            # train, val or test
    max_events: 100000     # optional cap (first N events of the split)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hepadv.cards.schema import Card, ComponentSpec
from hepadv.paths import CardPath

#: Top-level keys of an attack card; ``--set`` keys that start otherwise address ``attack.params``.
ATTACK_CARD_KEYS = ("kind", "attack", "run", "split", "max_events")


class AttackCard(Card):
    kind: Literal["attack"] = "attack"
    attack: ComponentSpec
    run: CardPath | None = Field(None, description="default target: a run card or run directory")
    split: Literal["train", "val", "test"] = "test"
    max_events: int | None = Field(None, ge=1, le=10**9)

    def component_specs(self) -> list[tuple[str, str, ComponentSpec]]:
        return [("attack", "attack", self.attack)]

    def summary(self) -> str:
        return f"attack card: {self.attack.name} on the {self.split} split"


def attack_override(item: str) -> str:
    """``--set alpha=2`` on an attack card means ``attack.params.alpha=2``; card keys stay as they are."""
    key = item.partition("=")[0].strip()
    return item if key.split(".")[0] in ATTACK_CARD_KEYS else f"attack.params.{item}"


__all__ = ["ATTACK_CARD_KEYS", "AttackCard", "attack_override"]
