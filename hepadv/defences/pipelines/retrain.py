"""What augmentation and iterative adversarial training share: extend a split with adversaries, retrain from
scratch (the run's own initialisation seed, so only the data differ), and score the clean test AUC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hepadv.data.preprocess import PreparedData, Split
from hepadv.defences.greybox import Adversaries, BaseRun
from hepadv.progress import Progress


def extend_split(base: Split, source: Split, adv: Adversaries, keep: np.ndarray, seed: int) -> Split:
    """``base`` plus the kept adversaries (labels, weights and kinematics of their clean rows of ``source``),
    shuffled with a seeded permutation."""
    rows = adv.idx[keep]
    parts = {
        "x": (base.x, adv.x_adv[keep]),
        "y": (base.y, source.y[rows]),
        "w": (base.w, source.w[rows]),
        "pt": (base.pt, source.pt[rows]),
        "eta": (base.eta, source.eta[rows]),
    }
    n = len(base) + len(rows)
    order = np.random.default_rng(seed).permutation(n)
    return Split(**{k: np.concatenate(v)[order] for k, v in parts.items()})


def train_on(run: BaseRun, data: PreparedData, directory: Path, progress: Progress | None) -> torch.nn.Module:
    """Train the run's model from scratch on ``data`` into ``directory/<variant>`` (reused when finished)."""
    from hepadv.training.device import resolve_device
    from hepadv.training.loop import train_variant

    result = train_variant(run.card, run.variant, data, directory / run.variant.name, resolve_device(run.card.device),
                           resume=True, progress=progress)
    return result.model.eval()


def load_retrained(run: BaseRun, directory: Path) -> torch.nn.Module:
    from hepadv.runs import load_trained

    return load_trained(directory, run.variant.name).model


def clean_auc(model: torch.nn.Module, data: PreparedData) -> float:
    """AUC of the task's first discriminator (BvsL for DeepCSV, the binary one otherwise) on the clean test split."""
    from hepadv.evaluation.roc import auc, discriminator_rocs

    device = next(model.parameters()).device
    probs = model.predict_proba(torch.as_tensor(data.test.x, device=device)).cpu().numpy()
    name = next(iter(data.spec.discriminators))
    roc = discriminator_rocs(probs, data.test.y, data.test.w, names=[name], classes=data.spec.classes)[name]
    return float("nan") if roc is None else auc(roc)
