"""The Data/MC card (``kind: datamc``, ``cards/datamc_*.yaml``): selection, samples, taggers, MC distortions, executor.

Samples are either ``toynano`` (generated for the selection's topology, the default) or real files
(``data`` and ``mc``). A tagger is a trained run (``run: DIR`` or ``card: CARD``, whose run is trained first
when it has no models), with its variants and checkpoints, or a ``stored`` CMS discriminator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hepadv.cards.schema import Card, ComponentSpec, Section
from hepadv.ids import SAFE_NAME_PATTERN
from hepadv.paths import CardPath


class SampleSection(Section):
    files: list[CardPath] = Field(min_length=1)
    tree: str = "Events"


class ToyNanoSection(Section):
    """toynano sample sizes and data mismodelling (see ``hepadv.datamc.toynano``).

    ``topology`` picks the toy events when the selection is not one of the built-in topologies (a plugin's
    selection tried on dy, wc or ttsemilep events); by default it is the selection's name. ``effects``
    (name -> size, ``toynano.EFFECTS``) replaces the original ``mismodelling`` (the ``ip_scale`` size,
    0.1 when neither is given).
    """

    topology: Literal["dy", "wc", "ttsemilep"] | None = None
    n_events_mc: int = Field(200_000, ge=1, le=50_000_000)
    n_events_data: int = Field(100_000, ge=1, le=50_000_000)
    seed: int = 1
    mismodelling: float | None = Field(None, gt=-1.0)
    mismodelled: list[str] | None = None
    effects: dict[str, float] | None = None

    @model_validator(mode="after")
    def _effects(self) -> ToyNanoSection:
        if self.effects is not None:
            from hepadv.datamc.toynano import check_effects

            check_effects(self.effects)
            if self.mismodelling is not None:
                raise ValueError("give either mismodelling (the ip_scale size, the old form) or effects, not both")
        return self

    def ip_scale(self) -> float:
        """The ``ip_scale`` size: ``mismodelling``, else 0.1 when no ``effects`` are given, else 0."""
        if self.mismodelling is not None:
            return self.mismodelling
        return 0.0 if self.effects is not None else 0.1


class TaggerSection(Section):
    """One tagger: exactly one of ``run``, ``card`` (the run of that training card) or ``stored``."""

    name: str | None = Field(None, pattern=SAFE_NAME_PATTERN)
    run: CardPath | None = None
    card: CardPath | None = None
    variants: list[str] | None = None
    checkpoints: Literal["all"] | list[Literal["best"] | int] = Field(default_factory=lambda: ["best"])
    stored: Literal["deepcsv", "deepjet"] | None = None
    train_if_missing: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> TaggerSection:
        given = [k for k in ("run", "card", "stored") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a tagger needs exactly one of run, card, stored; got {given or 'none'}")
        return self


class BootstrapSection(Section):
    """Statistical uncertainties of KL and JS: Poisson bootstrap replicas (``hepadv.evaluation.replicas``)."""

    replicas: int = Field(100, ge=0, le=10_000,
                          description="replicas per histogram; 0: divergences without uncertainties")
    groups: int = Field(1000, ge=10, le=1_000_000,
                        description="weight groups events are dealt into (shared Poisson weights)")

    @model_validator(mode="after")
    def _enough(self) -> BootstrapSection:
        if self.replicas == 1:
            raise ValueError("replicas must be 0 (none) or at least 2: a spread needs two replicas")
        return self


class DataMCCard(Card):
    kind: Literal["datamc"] = "datamc"
    name: str = Field("datamc", pattern=SAFE_NAME_PATTERN)
    seed: int = 1
    selection: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="dy"))
    toynano: ToyNanoSection = Field(default_factory=ToyNanoSection)
    data: SampleSection | None = None
    mc: SampleSection | None = None
    taggers: list[TaggerSection] = Field(default_factory=lambda: [TaggerSection(card=Path("cards/adv.yaml"))],
                                         min_length=1)
    distortions: list[ComponentSpec] = Field(default_factory=list, description=(
        "attacks applied to the MC inputs (any registered attack; a dataset-level one sees one chunk's jets)"))
    executor: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="iterative"))
    chunksize: int = Field(100_000, ge=1, le=100_000_000)
    max_chunks: int | None = Field(None, ge=1, description="at most this many chunks per sample")
    skip_bad_files: bool = False
    bootstrap: BootstrapSection = Field(default_factory=lambda: BootstrapSection())
    output: Path | None = Field(None, description="default: RUN/datamc/SELECTION of the first model tagger's run "
                                                  "(relative paths: to the working directory; {selection} in it: "
                                                  "the selection's name)")
    plots: bool = True
    root: bool = Field(True, description="also write the histograms as TH1s to hists.root")

    @model_validator(mode="after")
    def _samples(self) -> DataMCCard:
        if self.data is not None and self.mc is None:
            raise ValueError("data files need mc files to compare with (mc alone is allowed: no distances then)")
        return self

    def component_specs(self) -> list[tuple[str, str, ComponentSpec]]:
        specs = [("selection", "selection", self.selection), ("executor", "executor", self.executor)]
        return specs + [("attack", f"distortions.{i}", d) for i, d in enumerate(self.distortions)]

    def summary(self) -> str:
        return f"Data/MC card: selection {self.selection.name}, {len(self.taggers)} tagger(s)"
