"""Trained runs as artifacts: load a model from its run directory alone, and check it fits the data.

A run directory (``hepadv.runs.layout``) holds ``config.json`` and ``VARIANT/checkpoints/*.pt``. Each checkpoint
carries the model description, the ``FeatureSpec`` (with class names) and provenance, so
``load_trained`` needs no card: evaluation, ``hepadv attack``, Data/MC workers and defences all load
models this way, and refuse data whose spec differs from the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hepadv.data.spec import FeatureSpec
from hepadv.errors import CheckpointError, DataError, HepadvError
from hepadv.runs.layout import CONFIG_FILE, RunLayout

if TYPE_CHECKING:
    import torch

    from hepadv.progress import Progress

    from hepadv.cards.schema import RunCard
    from hepadv.data.preprocess import PreparedData
    from hepadv.models.base import Model

def variants(run_dir: Path) -> list[str]:
    """Variants of a run that have a trained (best) model, in name order."""
    return RunLayout(run_dir).trained_variants()


def checkpoint_path(run_dir: Path, variant: str, checkpoint: str | int = "best") -> Path:
    """``best``, ``last`` or an epoch number -> the checkpoint file (CheckpointError when absent)."""
    try:
        path = RunLayout(run_dir).checkpoint(variant, checkpoint)
    except HepadvError as exc:
        raise CheckpointError(str(exc)) from None
    if not path.is_file():
        known = variants(run_dir)
        if variant not in known:
            listing = ", ".join(known) if known else "none (run hepadv train first)"
            raise CheckpointError(f"{run_dir}: no trained model for variant {variant!r}; trained variants: {listing}")
        raise CheckpointError(f"{path}: no such checkpoint")
    return path


def check_spec(expected: FeatureSpec, actual: FeatureSpec, where: str) -> None:
    """One-line DataError when ``actual`` (the data's spec) would feed the model differently from ``expected``."""
    diff = expected.describe_mismatch(actual)
    if diff is not None:
        raise DataError(f"{where}: the model's inputs do not match the data's: {diff} (model vs data); "
                        "was the dataset or its generator changed since training?")


@dataclass
class TrainedModel:
    """A trained model with its input contract and where it came from."""

    model: Model
    spec: FeatureSpec
    variant: str
    epoch: int
    provenance: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    def predict_proba(self, x: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
        return self.model.predict_proba(x, batch_size)

    def portable(self) -> PortableModel:
        """Weights and spec only: what a dask worker needs, a few hundred kB, no training state."""
        weights = {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        return PortableModel(self.model.describe(), weights, self.spec.to_dict(), self.variant, self.epoch,
                             dict(self.provenance))


@dataclass(frozen=True)
class PortableModel:
    """A picklable, torch-free description of a trained model; ``load`` rebuilds it where it runs."""

    description: dict[str, Any]
    weights: dict[str, np.ndarray]
    spec: dict[str, Any]
    variant: str
    epoch: int
    provenance: dict[str, Any] = field(default_factory=dict)

    def load(self, device: str | torch.device = "cpu") -> TrainedModel:
        import torch

        from hepadv.models.base import model_from_description

        model = model_from_description(self.description)
        model.load_state_dict({k: torch.as_tensor(v) for k, v in self.weights.items()})
        model.to(device).eval()
        return TrainedModel(model, FeatureSpec.from_dict(self.spec), self.variant, self.epoch, dict(self.provenance))


def load_trained(run_dir: Path, variant: str | None = None, checkpoint: str | int = "best",
                 device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild a trained model from its checkpoint alone (registry lookup of the recorded description).

    ``variant`` may be omitted when the run has exactly one. Errors are one line naming the file.
    """
    from hepadv.models.base import model_from_description
    from hepadv.training.checkpoint import load_checkpoint, load_model_state

    run_dir = Path(run_dir)
    if variant is None:
        known = variants(run_dir)
        if len(known) != 1:
            listing = ", ".join(known) if known else "none (run hepadv train first)"
            raise CheckpointError(f"{run_dir}: name a variant; trained variants: {listing}")
        variant = known[0]
    path = checkpoint_path(run_dir, variant, checkpoint)
    state = load_checkpoint(path, map_location=device)
    for key in ("model", "spec", "state_dict"):
        if key not in state:
            raise CheckpointError(f"{path}: not a hepadv checkpoint (no {key!r} entry)")
    model = model_from_description(state["model"])
    load_model_state(model, state, path)
    model.to(device).eval()
    provenance = {"path": str(path), "epoch": state.get("epoch"), "best_epoch": state.get("best_epoch"),
                  "card_hash": state.get("card_hash"), "dataset_key": state.get("dataset_key")}
    return TrainedModel(model, FeatureSpec.from_dict(state["spec"]), variant, int(state.get("epoch", 0)), provenance,
                        state.get("history", {}))


class Run:
    """A run directory: its recorded card, its trained variants and the data they were trained on."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)

    @property
    def card(self) -> RunCard:
        return self.recorded_card()

    def recorded_card(self, overrides: list[str] | None = None) -> RunCard:
        """The card as recorded by training (config.json), with the output pointing at this directory."""
        from hepadv.cards.load import apply_overrides, validate_card
        from hepadv.io import read_json
        from hepadv.runs.record import latest_config

        path = self.dir / CONFIG_FILE
        if not path.is_file():
            raise CheckpointError(f"{self.dir}: not a hepadv run directory (no {CONFIG_FILE})")
        try:
            data = read_json(path)
        except ValueError as exc:
            raise CheckpointError(f"{path}: unreadable run record ({exc})") from None
        data = latest_config(self.dir, data)  # as --resume extended it (more epochs, patience)
        data = apply_overrides(data, overrides or [])
        data["output"] = str(self.dir)
        return validate_card(data, str(path))

    def variants(self) -> list[str]:
        return variants(self.dir)

    def load(self, variant: str | None = None, checkpoint: str | int = "best", device: str = "cpu") -> TrainedModel:
        return load_trained(self.dir, variant, checkpoint, device)

    def data(self, card: RunCard | None = None) -> PreparedData:
        """The run's preprocessed data, rebuilt from the recorded card (cached on disk)."""
        from hepadv.training.loop import load_data

        return load_data(card or self.card)


def open_run(card_or_dir: Path, overrides: list[str] | None = None, progress: Progress | None = None,
             ) -> tuple[Run, RunCard]:
    """A run and its card, from a run directory or a run card (whose output directory is the run).

    Once the run exists, its recorded settings describe the models (they may have been trained with ``--set``
    overrides or an older card), so the card given only contributes what does not change the models: its
    ``evaluation``, ``device``, ``name`` and ``submit`` sections.
    """
    from hepadv.cards import load_card

    path = Path(card_or_dir)
    if path.is_dir():
        run = Run(path)
        return run, run.recorded_card(overrides)  # one line when it is not a run directory
    card = load_card(path, overrides, progress=progress)
    run = Run(card.output_dir())
    if not RunLayout(run.dir).config.is_file():
        return run, card
    recorded = run.recorded_card()
    given = card.model_dump(mode="json", include={"evaluation", "device", "name", "submit"})
    merged = recorded.model_copy(update={k: getattr(card, k) for k in given})
    merged._source, merged._text, merged._overrides = card.source, card.text, card.overrides
    return run, merged
