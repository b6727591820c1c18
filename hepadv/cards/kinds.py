"""Which kind of card a file is, decided once for every command that accepts several kinds.

Run cards (``hepadv train``) never have these top-level keys, so the kind follows from them:
``defence`` -> a defence card (``hepadv defend``), ``attack`` -> an attack card (``hepadv attack``),
``selection`` or ``taggers`` -> a Data/MC card (``hepadv datamc``); anything else is a run card, whose
loader then reports whatever is wrong with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

CardKind = Literal["run", "attack", "datamc", "defence"]


def card_kind(path: str | Path) -> CardKind:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return "run"  # the run-card loader gives the precise error
    if not isinstance(data, dict):
        return "run"
    if "defence" in data:
        return "defence"
    if "attack" in data:
        return "attack"
    if {"selection", "taggers"} & set(data):
        return "datamc"
    return "run"


def describe_card(path: Path, overrides: list[str] | None = None) -> str:
    """Validate a card of any kind and say in a few words what it holds (``hepadv cards validate``)."""
    kind = card_kind(path)
    if kind == "attack":
        from hepadv.cards.attack_card import load_attack_card

        return f"attack card: {load_attack_card(path, overrides or []).attack.name}"
    if kind == "defence":
        from hepadv.cards.defence_card import load_defence_card

        dcard = load_defence_card(path, overrides or [])
        return (f"defence card: {dcard.defence.name} against {dcard.attack.name}, {dcard.runs} runs of "
                f"{dcard.run_card.name}")
    if kind == "datamc":
        from hepadv.datamc.card import load_datamc_card

        dm = load_datamc_card(path, overrides or [])
        return f"Data/MC: selection {dm.selection.name}, {len(dm.taggers)} tagger(s)"
    from hepadv.cards import load_card

    card = load_card(path, overrides or [])
    return f"{card.dataset.name}, {card.model.name}; variants: {', '.join(v.name for v in card.variants)}"
