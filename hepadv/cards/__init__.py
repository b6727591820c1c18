"""YAML run cards: typed schema and loading with clear errors."""

from hepadv.cards.load import apply_overrides, load_card
from hepadv.cards.schema import ComponentSpec, RunCard

__all__ = ["ComponentSpec", "RunCard", "apply_overrides", "load_card"]
