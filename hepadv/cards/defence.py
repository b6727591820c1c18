"""Defence cards (``kind: defence``, ``hepadv defend CARD``): a base run, an attack, a defence and the grey-box runs.

```yaml
kind: defence
run: nominal.yaml            # the base run card (a path, relative to this card) or the card inline
defence: {name: detector, params: {...}}   # any registered FilterDefence or RetrainingDefence
attack: {name: pgd, params: {...}}         # any registered attack, per-event or dataset-level
runs: 5                      # R independently seeded base models (grey-box runs), R >= 2
```

The R base models share the base card's split and differ only in their training seed; each is trained
once and reused (its directory is keyed by its card hash), and so are adversaries and detectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator

from hepadv.cards.messages import describe_error
from hepadv.cards.schema import Card, ComponentSpec, RunCard, Section
from hepadv.errors import CardError
from hepadv.ids import SAFE_NAME_PATTERN
from hepadv.paths import CardPath


class DataSection(Section):
    """A "data" sample for the detector's real-data curve (fig. 16): never attacked, shifted like data.

    It is the run's dataset generated again with ``dataset_params`` overridden (by default a different
    ``seed``, so no event was seen by the attack or the detector), then distorted by a label-free
    ``distortion`` (real data has no truth labels).
    """

    dataset_params: dict[str, Any] | None = Field(None, description=(
        "overrides of the run's dataset params; default: its seed + 1000 (the dataset must have a seed)"))
    distortion: ComponentSpec | None = Field(default_factory=lambda: ComponentSpec(
        name="systematic_shift"), description="a label-free attack applied to the sample (null: none)")
    max_events: int = Field(20_000, ge=10)


class DefenceCard(Card):
    """What ``hepadv defend`` runs; see the module docstring."""

    kind: Literal["defence"] = "defence"
    name: str | None = Field(None, pattern=SAFE_NAME_PATTERN, description="default: the defence's name")
    run: CardPath | dict[str, Any] = Field(description="the base run card: a path (relative to this card) or an "
                                                       "inline card")
    variant: str | None = Field(None, description="the base run's variant (default: its reference variant)")
    defence: ComponentSpec
    attack: ComponentSpec
    attack_classes: list[str] | None = Field(None, description="attack only events of these classes "
                                                               "(seed 004 sec. 9: background); default all")
    runs: int = Field(5, le=1000, description="R independently seeded base models for the grey-box runs")
    workers: int = Field(1, ge=1, le=256, description="processes training/attacking the R runs in parallel")
    threads: int = Field(1, ge=1, le=256, description=(
        "torch CPU threads per process: the pipelines train many small models, for which one thread is "
        "fastest (intra-op threads on a busy machine can cost 10x); raise it for large models"))
    max_events: int | None = Field(20_000, ge=10, le=10**9, description="attacked events per split (first of "
                                                                         "the split)")
    data: DataSection | None = None
    plots: bool = True
    output: Path | None = Field(None, description="default: <base run output>/defences (relative paths: to the "
                                                  "working directory)")
    _run_card: RunCard | None = PrivateAttr(default=None)
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("runs")
    @classmethod
    def _at_least_two(cls, v: int) -> int:
        if v < 2:
            raise ValueError(f"grey-box runs need R >= 2 independently trained base models, got {v}")
        return v

    @property
    def run_card(self) -> RunCard:
        if self._run_card is None:
            raise RuntimeError("defence card not loaded through load_defence_card")
        return self._run_card

    @property
    def raw(self) -> dict[str, Any]:
        """The card as parsed (after --set), for handing to worker processes."""
        return self._raw

    @property
    def label(self) -> str:
        return self.name or self.defence.name

    def output_root(self) -> Path:
        from hepadv.runs.layout import RunLayout

        return self.output if self.output is not None else RunLayout(self.run_card.output_dir()).defences

    def component_specs(self) -> list[tuple[str, str, ComponentSpec]]:
        specs = [("defence", "defence", self.defence), ("attack", "attack", self.attack)]
        if self.data is not None and self.data.distortion is not None:
            specs.append(("attack", "data.distortion", self.data.distortion))
        return specs

    def check(self, label: str, base_dir: Path | None) -> None:
        from hepadv.cards.load import load_card, validate_card

        self._raw = self.model_dump(mode="json", exclude_unset=True)
        if isinstance(self.run, dict):
            self._run_card = validate_card(self.run, f"{label}: run", base_dir=base_dir)
        else:
            self._run_card = load_card(self.run)
        variants = [v.name for v in self.run_card.variants]
        if self.variant is not None and self.variant not in variants:
            raise CardError(f"{label}: variant: {self.variant!r} is not a variant of the run; "
                            f"variants: {', '.join(variants)}")
        _check_defence_kind(self, label)
        _check_data(self, label)
        _check_train_attack_ranges(self, label)

    def summary(self) -> str:
        return (f"defence card: {self.defence.name} against {self.attack.name}, {self.runs} runs of "
                f"{self.run_card.name}")


def _check_defence_kind(card: DefenceCard, label: str) -> None:
    from hepadv.defences.base import FilterDefence, RetrainingDefence
    from hepadv.registry.manager import lookup

    cls = lookup("defence", card.defence.name)
    if not issubclass(cls, FilterDefence | RetrainingDefence):
        raise CardError(f"{label}: defence.name: {card.defence.name!r} is a training strategy, not a filter or "
                        "retraining defence; name it in a variant of the run card and use hepadv train")


def _check_data(card: DefenceCard, label: str) -> None:
    """Real data has no labels: the data sample's distortion must be label-free."""
    from hepadv.registry.manager import lookup

    if card.data is None or card.data.distortion is None:
        return
    cls = lookup("attack", card.data.distortion.name)
    if cls.needs_labels:
        raise CardError(f"{label}: data.distortion.name: attack {card.data.distortion.name!r} needs truth labels, "
                        "but the data sample is label-free; use a label-free distortion such as gaussian_noise "
                        "or systematic_shift")


def _check_train_attack_ranges(card: DefenceCard, label: str) -> None:
    """Every range well formed (min <= max) and both ends valid params of the attack, before any work."""
    from hepadv.defences.ranges import corner_params, integer_fields, parse_ranges
    from hepadv.registry.manager import lookup

    train_attack = getattr(card.defence.validated_params, "train_attack", None)
    if train_attack is None:
        return
    where = "defence.params.train_attack"
    parse_ranges(train_attack, f"{label}: {where}")
    cls = lookup("attack", card.attack.name)
    ints = integer_fields(cls.Params)
    for end in ("low", "high"):
        try:
            cls.parse_params({**card.attack.params, **corner_params(train_attack, end, ints)})
        except ValidationError as exc:
            raise CardError(f"{label}: {where}.{describe_error(exc, cls.Params)} "
                           f"(at the {end} end of its range)") from None
