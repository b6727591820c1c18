"""Cumulative iterative adversarial training (seed 004 sec. 7, figs. 11-12).

Per run j: the initial model, test adversaries crafted on it (the fixed card attack), then for each
iteration t: attack params drawn from the card's ranges, adversaries of the training set crafted on the
initial model, added to the cumulative set (initial + adversaries of iterations 0..t), model t trained from
scratch on it. Each model t is scored on the test adversaries of every run's initial model (k == j is the
white-box case the paper includes): the grey-box fooling ratio per iteration, averaged and best per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepadv.cards.defence import DefenceCard
from hepadv.data.preprocess import PreparedData
from hepadv.defences.crafting import attack_seed, fooled_by
from hepadv.defences.greybox import BaseRun, adversaries, class_indices, selection, train_base
from hepadv.defences.pipelines.common import build_attack, component_id
from hepadv.defences.pipelines.retrain import clean_auc, extend_split, load_retrained, train_on
from hepadv.defences.ranges import draw_params, integer_fields
from hepadv.progress import Progress
from hepadv.random import derive_seed
from hepadv.runs.layout import PLOTS_DIR


def iteration_params(dcard: DefenceCard, run: BaseRun, t: int) -> dict[str, Any]:
    """Iteration t's attack params: the card's attack params with the train_attack ranges drawn (seeded)."""
    from hepadv import get_attack

    spec = {**dcard.attack.params, **dcard.defence.validated_params.train_attack}
    rng = np.random.default_rng(derive_seed(dcard.run_card.seed, "iterative", run.index, t))
    return draw_params(spec, rng, integer_fields(get_attack(dcard.attack.name).Params), "train_attack")


def iteration_dir(dcard: DefenceCard, run: BaseRun, t: int) -> Path:
    key = f"{component_id(dcard.defence)}-{build_attack(dcard.attack).id()}-" \
          f"{'-'.join(dcard.attack_classes or ['all'])}-{dcard.max_events}"
    return run.dir / "iterative" / key / f"iter{t}"


def _test_adversaries(dcard: DefenceCard, run: BaseRun, model: torch.nn.Module, data: Any) -> Any:
    rows = selection(data.test, class_indices(data.spec, dcard.attack_classes), dcard.max_events)
    return adversaries(run, model, build_attack(dcard.attack), "test", data.test, data.spec, rows,
                       attack_seed(dcard.run_card.seed, run.index, "test"))


def per_run(dcard: DefenceCard, run: BaseRun, progress: Progress | None) -> dict[str, Any]:
    model, data = train_base(run, progress)
    _test_adversaries(dcard, run, model, data)
    p = dcard.defence.validated_params
    rows = selection(data.train, class_indices(data.spec, dcard.attack_classes), dcard.max_events)
    cumulative = data.train
    sizes, added, drawn = [], [], []
    for t in range(p.iterations):
        params = iteration_params(dcard, run, t)
        attack = build_attack(dcard.attack, params)
        adv = adversaries(run, model, attack, "train", data.train, data.spec, rows,
                          attack_seed(dcard.run_card.seed, run.index, "train", f"iter{t}"), progress)
        keep = adv.fooled if p.only_fooling else np.ones(len(adv.idx), dtype=bool)
        cumulative = extend_split(cumulative, data.train, adv, keep, derive_seed(run.seed, "iterative", t) % (2**32))
        train_on(run, PreparedData(data.spec, cumulative, data.val, data.test), iteration_dir(dcard, run, t), progress)
        sizes.append(len(cumulative))
        added.append(int(keep.sum()))
        drawn.append({"params": attack.main_params(),
                      "attack_id": attack.id(), "train_fooling_ratio": adv.fooling_ratio})
    return {"run": run.index, "dir": str(run.dir), "n_train": len(data.train), "train_sizes": sizes,
            "added": added, "iterations": drawn}


def combine(dcard: DefenceCard, runs: list[BaseRun], shares: list[dict[str, Any]], out: Path,
            progress: Progress | None) -> dict[str, Any]:
    from hepadv.runs import load_trained
    from hepadv.training.loop import load_data

    data = load_data(runs[0].card)
    base = [load_trained(r.dir, r.variant.name).model for r in runs]
    advs = [_test_adversaries(dcard, r, m, data) for r, m in zip(runs, base, strict=True)]
    x_clean = torch.as_tensor(data.test.x[advs[0].idx])
    x_adv = [torch.as_tensor(a.x_adv) for a in advs]
    n_it = dcard.defence.validated_params.iterations
    r = len(runs)

    def fr(model: torch.nn.Module) -> np.ndarray:
        return np.array([fooled_by(model, x_clean, xa).mean() for xa in x_adv])

    baseline = np.stack([fr(m) for m in base])  # [j, k]
    trained = np.zeros((r, n_it, r))  # [j, t, k]
    aucs = np.zeros((r, n_it))
    for j, run in enumerate(runs):
        for t in range(n_it):
            model = load_retrained(run, iteration_dir(dcard, run, t))
            trained[j, t] = fr(model)
            aucs[j, t] = clean_auc(model, data)
    per_run_it = trained.mean(axis=2)  # [j, t]: grey-box (incl. white-box) FR of run j's model t
    off = ~np.eye(r, dtype=bool)
    metrics = {
        "attack": build_attack(dcard.attack).describe(), "per_run": shares,
        "baseline_matrix": baseline.tolist(), "trained_fooling": trained.tolist(),
        "baseline": {"mean": float(baseline.mean()), "std": float(baseline.std()),
                     "grey_box_only": float(baseline[off].mean())},
        "per_iteration": {"mean": per_run_it.mean(0).tolist(), "std": per_run_it.std(0).tolist(),
                          "grey_box_only": [float(trained[:, t][off].mean()) for t in range(n_it)]},
        "average_case": {"per_run": per_run_it.mean(1).tolist(), "mean": float(per_run_it.mean())},
        "best_case": {"per_run": per_run_it.min(1).tolist(), "mean": float(per_run_it.min(1).mean()),
                      "iteration": per_run_it.argmin(1).tolist()},
        "clean_auc": {"base": [clean_auc(m, data) for m in base], "per_iteration": aucs.mean(0).tolist()},
    }
    if dcard.plots:
        from hepadv.plotting import defences as P

        P.per_run_bars(out / PLOTS_DIR / "fooling_ratio_per_run.png", {
            "base model": (baseline.mean(1), None, P.GREY),
            "adv. trained, average": (per_run_it.mean(1), None, P.RED),
            "adv. trained, best": (per_run_it.min(1), None, P.BLUE)}, "grey-box fooling ratio")
        P.curve(out / PLOTS_DIR / "fooling_ratio_per_iteration.png", np.arange(n_it), per_run_it.mean(0),
                per_run_it.std(0), "iteration", "grey-box fooling ratio", float(baseline.mean()))
    return metrics
