"""The card kinds, by the name a card gives in ``kind:`` (or the command that reads it).

| kind | command | class |
|---|---|---|
| run | ``hepadv train``, ``evaluate`` | ``hepadv.cards.schema.RunCard`` |
| attack | ``hepadv attack --card`` | ``hepadv.cards.attack.AttackCard`` |
| datamc | ``hepadv datamc`` | ``hepadv.cards.datamc.DataMCCard`` |
| defence | ``hepadv defend`` | ``hepadv.cards.defence.DefenceCard`` |

A card without ``kind:`` is the kind its command reads; ``hepadv cards validate|show`` read it as a run card.
"""

from __future__ import annotations

import importlib

from hepadv.cards.schema import Card

CARD_KINDS: dict[str, str] = {
    "run": "hepadv.cards.schema:RunCard",
    "attack": "hepadv.cards.attack:AttackCard",
    "datamc": "hepadv.cards.datamc:DataMCCard",
    "defence": "hepadv.cards.defence:DefenceCard",
}


def card_class(kind: str) -> type[Card]:
    module, _, name = CARD_KINDS[kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, Card)
    return cls
