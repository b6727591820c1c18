"""Grey-box runs (seed 004 sec. 7): R base models from one card that differ only in their training seed.

Adversaries crafted on run j are scored by model i (and its defence) for every i; i != j is the grey-box
attack (architecture and data known, weights not), i == j the white-box diagonal. Everything a run makes
lives in its own directory keyed by its card hash: the trained model, the adversaries (keyed by attack id,
split and attacked rows) and the defence's models, so rerunning a card never recomputes what exists.
The R runs are independent and can run in parallel processes (``workers`` in the card).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepadv.cards.defence import DefenceCard
from hepadv.cards.schema import RunCard, VariantSection
from hepadv.data.preprocess import PreparedData, Split
from hepadv.data.spec import FeatureSpec
from hepadv.errors import DataError
from hepadv.ids import content_id
from hepadv.io import atomic_path
from hepadv.progress import Progress
from hepadv.random import derive_seed

log = logging.getLogger("hepadv.defences")
SPLITS = ("train", "val", "test")


@dataclass
class BaseRun:
    """One of the R independently seeded trainings of the base card."""

    index: int
    card: RunCard
    variant: VariantSection

    @property
    def dir(self) -> Path:
        return self.card.output_dir()

    @property
    def seed(self) -> int:
        return self.card.training_seed(self.card.variant_training(self.variant))


def base_runs(dcard: DefenceCard) -> list[BaseRun]:
    """The R run cards: the base card with one variant, its split fixed, and training seed j (run 0: the card's)."""
    from hepadv.cards.load import resolved_card, validate_card
    from hepadv.training.loop import card_hash

    base = dcard.run_card
    name = dcard.variant or base.reference_variant() or base.variants[0].name
    data = resolved_card(base)
    data["variants"] = [v for v in data["variants"] if v["name"] == name]
    data["preprocess"]["seed"] = base.split_seed()
    data["output"] = None
    base_seed = base.training_seed(base.variant_training(base.variants[[v.name for v in base.variants].index(name)]))
    runs = []
    for j in range(dcard.runs):
        d = copy.deepcopy(data)
        seed = base_seed if j == 0 else derive_seed(base.seed, "defence-run", j) % (2**31)
        d["variants"][0]["training"] = {**d["variants"][0].get("training", {}), "seed": seed}
        card = validate_card(d, f"run {j} of {dcard.label}")
        card.output = dcard.output_root() / "runs" / f"run{j}-{card_hash(card)[:10]}"
        runs.append(BaseRun(j, card, card.variants[0]))
    return runs


def train_base(run: BaseRun, progress: Progress | None) -> tuple[torch.nn.Module, PreparedData]:
    """The run's trained model (trained now only if its directory has no finished training) and its data."""
    from hepadv.runs.ensure import ensure_trained
    from hepadv.runs.trained import Run, load_trained

    result = ensure_trained(run.card, [run.variant.name], complete=True, progress=progress)
    if result is not None:
        return result.variants[run.variant.name].model.eval(), result.data
    return load_trained(run.dir, run.variant.name).model.eval(), Run(run.dir).data(run.card)


def class_indices(spec: FeatureSpec, names: list[str] | None) -> np.ndarray:
    """Indices of the attacked classes (all when ``names`` is None); unknown names are a one-line DataError."""
    if names is None:
        return np.arange(len(spec.classes))
    unknown = [n for n in names if n not in spec.classes]
    if unknown:
        raise DataError(f"attack_classes: {unknown[0]!r} is not a class of the model; "
                        f"classes: {', '.join(spec.classes)}")
    return np.array([spec.classes.index(n) for n in names], dtype=np.int64)


def selection(split: Split, classes: np.ndarray, max_events: int | None) -> np.ndarray:
    """Rows of the split that are attacked: the first ``max_events`` of the chosen classes (splits are shuffled)."""
    idx = np.flatnonzero(np.isin(split.y, classes))
    return idx if max_events is None else idx[:max_events]


@dataclass
class Adversaries:
    """Adversaries of some rows of one split: ``x_adv`` (n, d) scaled, ``fooled`` on the crafting model."""

    idx: np.ndarray
    x_adv: np.ndarray
    fooled: np.ndarray

    @property
    def fooling_ratio(self) -> float:
        return float(self.fooled.mean()) if len(self.fooled) else float("nan")


def adversaries(run: BaseRun, model: torch.nn.Module, attack: Any, split_name: str, split: Split, spec: FeatureSpec,
                idx: np.ndarray, seed: int, progress: Progress | None = None) -> Adversaries:
    """Adversaries of ``split[idx]`` crafted on ``model`` with ``attack``, read back from disk when made before."""
    from hepadv.defences.crafting import craft, fooled_by

    key = content_id({"rows": idx.astype(np.int64), "seed": seed}, 10)
    path = run.dir / "adversaries" / f"{attack.id()}-{split_name}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                cached = Adversaries(z["idx"], z["x_adv"], z["fooled"])
            if np.array_equal(cached.idx, idx) and len(cached.x_adv) == len(idx) == len(cached.fooled):
                return cached
            log.warning("%s does not match its rows; crafting them again", path)
        except Exception as exc:  # a cache: an unreadable file is redone, never trusted
            log.warning("%s is unreadable (%s); crafting them again", path, type(exc).__name__)
    device = next(model.parameters()).device
    x = torch.as_tensor(split.x[idx], device=device)
    y = torch.as_tensor(split.y[idx], device=device)
    x_adv = craft(attack, model, x, y, spec, seed, progress)
    adv = Adversaries(idx, x_adv.cpu().numpy().astype(np.float32), fooled_by(model, x, x_adv))
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, idx=adv.idx, x_adv=adv.x_adv, fooled=adv.fooled)
    return adv
