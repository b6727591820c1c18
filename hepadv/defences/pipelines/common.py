"""What every defence pipeline shares: components built from the card, and their ids."""

from __future__ import annotations

from typing import Any

from hepadv.cards.defence import DefenceCard
from hepadv.cards.schema import ComponentSpec
from hepadv.ids import named_id
from hepadv.registry.manager import build


def build_attack(spec: ComponentSpec, params: dict[str, Any] | None = None) -> Any:
    """An attack instance from a card block (``params`` replaces the block's params when given)."""
    return build("attack", spec, params)


def build_defence(dcard: DefenceCard) -> Any:
    return build("defence", dcard.defence)


def component_id(spec: ComponentSpec) -> str:
    return named_id(spec.name, {"name": spec.name, "params": spec.validated_params})
