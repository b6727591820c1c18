"""YAML cards of every kind (run, attack, Data/MC, defence): typed schemas and one loader with clear errors."""

from hepadv.cards.load import apply_overrides, load, load_card, resolved_card, validate, validate_card
from hepadv.cards.schema import Card, ComponentSpec, RunCard

__all__ = ["Card", "ComponentSpec", "RunCard", "apply_overrides", "load", "load_card", "resolved_card", "validate",
           "validate_card"]
