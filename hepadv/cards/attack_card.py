"""Attack cards: a small, separate card holding one attack's parameters (e.g. ``cards/conservattack.yaml``).

A run card says how models are trained; an attack card says how ``hepadv attack`` attacks them, so the
same trained run can be attacked with many settings without retraining. Schema::

    attack: {name: conservattack, params: {...}}   # params validated by the attack's own Params
    run: adv.yaml          # optional default target (run card or run directory), relative to this card
    split: test            # train, val or test
    max_events: 100000     # optional cap (first N events of the split)
    tuned_on:              # optional: how the params were chosen (a sweep), never on the reported split
      script: scripts/conservattack_sweep.py
      split: val
      max_events: 20000
      target: {min_fooling_ratio: 0.6, max_mean_jsd: 0.05, max_dfn: 0.2}

Unknown keys are errors, every failure is one ``CardError`` line naming the file and field. A card whose
params were tuned on the split it reports on is refused: tuning is done on train or val, figures are
reported on another split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from hepadv.cards.load import apply_overrides, describe_error, parse_yaml
from hepadv.cards.schema import ComponentSpec, Section
from hepadv.errors import CardError, UnknownComponentError


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


class AttackCard(Section):
    attack: ComponentSpec
    run: Path | None = None
    split: Literal["train", "val", "test"] = "test"
    max_events: int | None = Field(None, ge=1)
    tuned_on: Tuning | None = None

    @model_validator(mode="after")
    def _tuned_off_the_reported_split(self) -> AttackCard:
        if self.tuned_on is not None and self.tuned_on.split == self.split:
            raise ValueError(f"params tuned on the {self.split} split cannot be reported on it; tune on "
                             f"{'val' if self.split != 'val' else 'train'} or report on another split")
        return self


def validate_attack_card(data: dict[str, Any], label: str, base_dir: Path | None = None,
                         overrides: list[str] | None = None) -> AttackCard:
    """Validate an attack card dict; ``overrides`` (``KEY=VALUE``) apply to the attack's params."""
    attack = data.get("attack") or {}
    if overrides and isinstance(attack, dict) and isinstance(attack.get("params") or {}, dict):
        # (otherwise validation below says what attack or attack.params should be)
        params = apply_overrides(dict(attack.get("params") or {}), overrides, label)
        data = {**data, "attack": {**attack, "params": params}}
    try:
        card = AttackCard.model_validate(data)
    except ValidationError as exc:
        raise CardError(f"{label}: {describe_error(exc, AttackCard)}") from None
    if card.run is not None and base_dir is not None and not card.run.is_absolute():
        card.run = base_dir / card.run
    from hepadv.registry.manager import lookup

    try:
        cls = lookup("attack", card.attack.name)
    except UnknownComponentError as exc:
        raise CardError(f"{label}: attack.name: {exc}") from None
    try:
        card.attack._validated = cls.parse_params(card.attack.params, base_dir)
    except ValidationError as exc:
        raise CardError(f"{label}: attack.params.{describe_error(exc, cls.Params)}") from None
    return card


def load_attack_card(path: str | Path, overrides: list[str] | None = None) -> AttackCard:
    path = Path(path)
    if not path.is_file():
        raise CardError(f"{path}: no such attack card")
    data = parse_yaml(path.read_text(), str(path))
    if not isinstance(data, dict):
        raise CardError(f"{path}: expected a mapping with an 'attack' section, got {type(data).__name__}")
    return validate_attack_card(data, str(path), path.resolve().parent, overrides)
