"""Card building blocks (``Section``, ``ComponentSpec``, the ``Card`` base every kind derives from) and the run card.

Every section has defaults that make sense; unknown keys are errors. Component blocks (``dataset``, ``model``,
attacks, defences, selections, executors) hold a ``name`` and a free ``params`` dict here; the loader
(``hepadv.cards.load``) validates ``params`` with the named component's own ``Params`` model, once, for every kind.
Numbers must be finite everywhere (``allow_inf_nan=False``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from hepadv.bounds import MAX_BATCH
from hepadv.ids import SAFE_NAME_PATTERN


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ComponentSpec(Section):
    """A plugin component named in a card, with its (not yet validated) parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    _validated: Any = PrivateAttr(default=None)

    @property
    def validated_params(self) -> Any:
        """The params as the component's own ``Params`` model (set by ``load_card``)."""
        if self._validated is None:
            raise RuntimeError(f"params of {self.name!r} were not validated; use hepadv.cards.load_card")
        return self._validated


class Card(Section):
    """What every card kind shares: its ``kind``, where it was read from, and the components it names.

    Paths follow one rule for every kind: *inputs* (data files, run cards, run folders) resolve relative to the
    card file's folder; *outputs* (``output:``) relative to the working directory, and default beneath the run
    they derive from.
    """

    kind: str
    _source: Path | None = PrivateAttr(default=None)
    _text: str | None = PrivateAttr(default=None)
    _overrides: list[str] = PrivateAttr(default_factory=list)

    @property
    def source(self) -> Path | None:
        """The card file (None for a card built in code)."""
        return self._source

    @property
    def text(self) -> str | None:
        """The card file's text as it was read (what the run record keeps as card.yaml)."""
        return self._text

    @property
    def overrides(self) -> list[str]:
        """The ``--set`` overrides applied on top of the file, as ``key=value`` text."""
        return list(self._overrides)

    def component_specs(self) -> list[tuple[str, str, ComponentSpec]]:
        """(component kind, field path, spec) of every component the card names, validated by the loader."""
        return []

    def check(self, label: str, base_dir: Path | None) -> None:
        """Cross-field checks that need the validated components; raise a one-line ``CardError``."""

    def summary(self) -> str:
        """A few words on what the card holds (``hepadv cards validate``)."""
        return self.kind


class PreprocessSection(Section):
    """SPEC 1: split, scaling, (pT, eta) reweighting."""

    split: tuple[float, float, float] = (0.72, 0.08, 0.20)
    reweight: Literal["average", "flat", "none"] = "average"
    pt_bins: int = Field(50, ge=1)
    eta_bins: int = Field(50, ge=1)
    pt_range: tuple[float, float] = (20.0, 900.0)
    eta_range: tuple[float, float] = (-2.5, 2.5)
    seed: int | None = Field(None, description="split seed; default: derived from the card's seed")
    cache: bool = True

    @field_validator("split")
    @classmethod
    def _split_sums_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(f <= 0 for f in v) or abs(sum(v) - 1.0) > 1e-6:
            raise ValueError(f"expected three positive fractions summing to 1, got {list(v)}")
        return v


class TrainingSection(Section):
    """SPEC 1: focal loss, Adam, lr(epoch) = lr / (1 + epoch / lr_decay_epochs), early stopping."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(65536, ge=1, le=MAX_BATCH)
    lr: float = Field(1e-4, gt=0)
    lr_decay_epochs: float = Field(30.0, gt=0)
    gamma: float = Field(25.0, ge=0)
    patience: int | None = Field(5, ge=1)
    seed: int | None = Field(None, description="initialisation and shuffling; default: derived from the card's seed")
    on_gpu_if_fits: bool = Field(True, description="keep the training split on the GPU when it fits in half of "
                                                   "the free memory; otherwise (or false) stream batches to it")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="autocast for training and the attack's input gradient (loss and metrics stay fp32); "
                            "auto: bf16 on a GPU that has it, else fp16 with loss scaling; fp32 on CPU")
    cuda_graph: bool = Field(False, description=(
        "on a GPU, capture the whole training step (attack, forward, backward, Adam) once and replay it as a CUDA "
        "graph where the strategy allows it (FGSM, PGD, nominal); off by default until it has been measured on a "
        "GPU (README, Training on a GPU); ignored on CPU"))
    compile: bool = Field(False, description="torch.compile the model and the attack's step (compile time is "
                                             "logged and kept in history.json); needs a C++ compiler on CPU")


class VariantSection(Section):
    """One model to train from the card: nominal (no defence) or with a training defence."""

    name: str = Field(pattern=SAFE_NAME_PATTERN)
    defence: ComponentSpec | None = None
    training: dict[str, Any] = Field(default_factory=dict)


class EvaluationSection(Section):
    """What ``hepadv evaluate`` (and the end of ``hepadv train``) measures."""

    attacks: list[ComponentSpec] = Field(default_factory=lambda: [ComponentSpec(name="fgsm")])
    discriminators: list[str] | None = Field(None, description="default: every discriminator of the task "
                                                               "(BvsL, BvsC, CvsB, CvsL for DeepCSV)")
    reference: str | None = Field(None, description="the variant the others are compared against; default: "
                                                    "the first variant without a defence")
    seed: int | None = Field(None, description="random distortions; default: derived from the card's seed")
    every_epoch: bool = True
    max_jets: int | None = Field(200_000, ge=1)
    batch_size: int = Field(65536, ge=1, le=MAX_BATCH)
    plots: bool = True
    transfer: bool = Field(True, description="with several variants: replay each variant's attacked inputs "
                                             "against the others (grey-box transferability, paper app. B.2)")


class SubmitSection(Section):
    """``submit:``: the batch job ``hepadv train CARD --submit slurm|htcondor`` asks for (hepadv.training.submit)."""

    partition: str | None = Field(None, description="SLURM partition (sbatch -p); None: the site default")
    account: str | None = Field(None, description="account to charge (sbatch -A)")
    gpus: int = Field(1, ge=0, description="GPUs per job (0: train on CPU)")
    gpu_type: str | None = Field(None, description="GPU model in the gres request, e.g. a100")
    cores: int = Field(4, ge=1, description="CPU cores per job")
    memory: str = Field("16GB", pattern=r"^[0-9]+(\.[0-9]+)?\s*[KMGT]i?B?$", description="memory per job")
    time: str = Field("24:00:00", pattern=r"^([0-9]+-)?[0-9]+(:[0-9]{2}){0,2}$", description="walltime, [D-]HH:MM:SS")
    requeue: bool = Field(True, description="let the batch system restart a pre-empted job (it resumes)")
    extra_directives: list[str] = Field(default_factory=list, description='more #SBATCH options, e.g. "--qos=long"')
    prologue: list[str] = Field(default_factory=list, description="shell lines before training, e.g. module load")
    python: str | None = Field(None, description="python on the compute node (default: this one)")


class RunCard(Card):
    """A whole run: data, model, how to train it (one or several variants) and how to evaluate it."""

    kind: Literal["run"] = "run"
    name: str = Field("run", pattern=SAFE_NAME_PATTERN)
    seed: int = Field(0, description="the one seed every other seed derives from unless set explicitly")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(1, ge=1, le=1024, description=(
        "torch CPU threads for training, evaluation and attacks (null: torch's default, one per core). 1 by "
        "default: the DeepCSV-size MLP gains little from intra-op threads, and on a machine shared with other "
        "jobs every extra thread waits at each operation's barrier (see the README's benchmark); same machine and "
        "same threads give identical figures"))
    output: Path | None = None
    dataset: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="toyjets"))
    preprocess: PreprocessSection = Field(default_factory=PreprocessSection)
    model: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="deepcsv"))
    training: TrainingSection = Field(default_factory=TrainingSection)
    variants: list[VariantSection] = Field(default_factory=lambda: [VariantSection(name="nominal")], min_length=1)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    submit: SubmitSection | None = Field(None, description="batch job for hepadv train --submit (not part of the "
                                         "training: excluded from the card hash)")
    @model_validator(mode="before")
    @classmethod
    def _default_component_names(cls, data: Any) -> Any:
        """``dataset: {params: ...}`` without a name means the default dataset (likewise for the model)."""
        if isinstance(data, dict):
            for key, default in (("dataset", "toyjets"), ("model", "deepcsv")):
                if isinstance(data.get(key), dict) and "name" not in data[key]:
                    data = {**data, key: {"name": default, **data[key]}}
        return data

    @model_validator(mode="after")
    def _unique_variant_names(self) -> RunCard:
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"variant names must be unique, {dupes[0]!r} appears twice")
        ref = self.evaluation.reference
        if ref is not None and ref not in names:
            raise ValueError(f"evaluation.reference {ref!r} is not a variant; variants: {', '.join(names)}")
        return self

    def split_seed(self) -> int:
        """The train/val/test split seed: ``preprocess.seed`` or derived from ``seed``."""
        from hepadv.random import derive_seed

        s = self.preprocess.seed
        return s if s is not None else derive_seed(self.seed, "split") % (2**32)

    def training_seed(self, cfg: TrainingSection) -> int:
        """Initialisation and shuffling seed of a variant's training (the same for every variant by default,
        so nominal and adversarial models start from the same weights)."""
        from hepadv.random import derive_seed

        return cfg.seed if cfg.seed is not None else derive_seed(self.seed, "training")

    def evaluation_seed(self) -> int:
        from hepadv.random import derive_seed

        s = self.evaluation.seed
        return s if s is not None else derive_seed(self.seed, "evaluation")

    def reference_variant(self) -> str | None:
        """The variant others are compared against: named in the card, else the first without a defence."""
        if self.evaluation.reference is not None:
            return self.evaluation.reference
        return next((v.name for v in self.variants if v.defence is None), None)

    def output_dir(self) -> Path:
        """``output`` if given, else ``runs/<name>`` under the current directory."""
        return self.output if self.output is not None else Path("runs") / self.name

    def variant_training(self, variant: VariantSection) -> TrainingSection:
        """The card's training section with the variant's overrides applied (validated)."""
        return TrainingSection.model_validate({**self.training.model_dump(), **variant.training})

    def component_specs(self) -> list[tuple[str, str, ComponentSpec]]:
        """(kind, field path, spec) for every component named in the card."""
        specs = [("dataset", "dataset", self.dataset), ("model", "model", self.model)]
        for i, v in enumerate(self.variants):
            if v.defence is not None:
                specs.append(("defence", f"variants.{i}.defence", v.defence))
        specs += [("attack", f"evaluation.attacks.{i}", a) for i, a in enumerate(self.evaluation.attacks)]
        return specs

    def check(self, label: str, base_dir: Path | None) -> None:
        from pydantic import ValidationError

        from hepadv.cards.messages import describe_error
        from hepadv.errors import CardError

        for i, variant in enumerate(self.variants):
            try:
                self.variant_training(variant)
            except ValidationError as exc:
                raise CardError(f"{label}: variants.{i}.training.{describe_error(exc, TrainingSection)}") from None

    def summary(self) -> str:
        return f"run card: {self.dataset.name}, {self.model.name}; variants: {', '.join(v.name for v in self.variants)}"


