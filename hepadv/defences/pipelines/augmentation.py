"""Adversarial augmentation (seed 004 sec. 6, figs. 9-10): adversaries of the training set shuffled in,
the model retrained from scratch, clean-test AUC compared with the base model over R runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepadv.cards.defence import DefenceCard
from hepadv.data.preprocess import PreparedData
from hepadv.defences.crafting import attack_seed
from hepadv.defences.greybox import BaseRun, adversaries, class_indices, selection, train_base
from hepadv.defences.pipelines.common import build_attack, component_id
from hepadv.defences.pipelines.retrain import clean_auc, extend_split, load_retrained, train_on
from hepadv.progress import Progress
from hepadv.random import derive_seed
from hepadv.runs.layout import PLOTS_DIR


def augmented_dir(dcard: DefenceCard, run: BaseRun) -> Path:
    return run.dir / "augmented" / f"{component_id(dcard.defence)}-{build_attack(dcard.attack).id()}-" \
                                   f"{'-'.join(dcard.attack_classes or ['all'])}-{dcard.max_events}"


def per_run(dcard: DefenceCard, run: BaseRun, progress: Progress | None) -> dict[str, Any]:
    model, data = train_base(run, progress)
    attack = build_attack(dcard.attack)
    rows = selection(data.train, class_indices(data.spec, dcard.attack_classes), dcard.max_events)
    adv = adversaries(run, model, attack, "train", data.train, data.spec, rows,
                      attack_seed(dcard.run_card.seed, run.index, "train"), progress)
    keep = adv.fooled if dcard.defence.validated_params.only_fooling else np.ones(len(adv.idx), dtype=bool)
    train = extend_split(data.train, data.train, adv, keep, derive_seed(run.seed, "augment") % (2**32))
    train_on(run, PreparedData(data.spec, train, data.val, data.test), augmented_dir(dcard, run), progress)
    return {"run": run.index, "dir": str(run.dir), "n_train": len(data.train), "n_added": int(keep.sum()),
            "train_fooling_ratio": adv.fooling_ratio}


def combine(dcard: DefenceCard, runs: list[BaseRun], shares: list[dict[str, Any]], out: Path,
            progress: Progress | None) -> dict[str, Any]:
    from hepadv.runs import load_trained
    from hepadv.training.loop import load_data

    data = load_data(runs[0].card)
    base = np.array([clean_auc(load_trained(r.dir, r.variant.name).model, data) for r in runs])
    aug = np.array([clean_auc(load_retrained(r, augmented_dir(dcard, r)), data) for r in runs])
    if dcard.plots:
        from hepadv.plotting.defences import auc_runs

        auc_runs(out / PLOTS_DIR / "auc_per_run.png", base, aug, "adversarially augmented")
    return {"attack": build_attack(dcard.attack).describe(), "per_run": shares,
            "auc_base": base.tolist(), "auc_augmented": aug.tolist(),
            "auc_base_mean": float(base.mean()), "auc_augmented_mean": float(aug.mean()),
            "auc_gain": {"mean": float((aug - base).mean()), "std": float((aug - base).std())}}
