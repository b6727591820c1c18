"""Adversarial detector pipeline (seed 004 sec. 7-9, figs. 13-21).

Per run: train the base model, craft adversaries of the attacked rows of train, val and test, keep those
that fool the base model, train the detector on clean (1) vs fooling adversarial (0) events of train,
stop on val. Combined: the grey-box matrices of initial and corrected fooling ratios (test adversaries of
run j through model i and detector i), detector efficiencies against the threshold with ROC and AUC,
the repeated-misclassification test over the R detectors, the "data" curve, and for 2-D data the point clouds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepadv.cards.defence import DefenceCard
from hepadv.defences.base import FilterDefence
from hepadv.defences.crafting import attack_seed, fooled_by, predicted_class
from hepadv.defences.detector import efficiency_curve, fooling_ratios
from hepadv.defences.greybox import SPLITS, Adversaries, BaseRun, adversaries, class_indices, selection, train_base
from hepadv.defences.pipelines.common import build_attack, build_defence, component_id
from hepadv.errors import HepadvError
from hepadv.io import atomic_path
from hepadv.progress import Progress
from hepadv.runs.layout import PLOTS_DIR

log = logging.getLogger("hepadv.defences")
THRESHOLDS = np.linspace(0.0, 1.0, 101)


def _run_adversaries(dcard: DefenceCard, run: BaseRun, model: torch.nn.Module, data: Any, progress: Progress | None,
                     ) -> dict[str, Adversaries]:
    attack = build_attack(dcard.attack)
    classes = class_indices(data.spec, dcard.attack_classes)
    return {s: adversaries(run, model, attack, s, getattr(data, s), data.spec,
                           selection(getattr(data, s), classes, dcard.max_events),
                           attack_seed(dcard.run_card.seed, run.index, s), progress)
            for s in SPLITS}


def detector_path(dcard: DefenceCard, run: BaseRun) -> Path:
    blob = json.dumps([dcard.attack_classes, dcard.max_events], sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:8]
    return run.dir / "detectors" / f"{component_id(dcard.defence)}-{build_attack(dcard.attack).id()}-{key}.pt"


def clean_rows(dcard: DefenceCard, split: Any) -> np.ndarray:
    """Clean events the detector sees: the first ``max_events`` of the split, every class."""
    return selection(split, np.unique(split.y), dcard.max_events)


def per_run(dcard: DefenceCard, run: BaseRun, progress: Progress | None) -> dict[str, Any]:
    """Base model, adversaries of every split, and the detector trained on them (each only if not on disk)."""
    model, data = train_base(run, progress)
    advs = _run_adversaries(dcard, run, model, data, progress)
    path = detector_path(dcard, run)
    if not path.is_file():
        for s in ("train", "val"):
            if not advs[s].fooled.any():
                raise HepadvError(
                    f"detector: no adversary fools the base model of run {run.index} on the {s} split "
                    f"(0 of {len(advs[s].fooled)} attacked events by {dcard.attack.name}); a detector needs "
                    "fooling adversaries to learn from: strengthen the attack (e.g. --set attack.params.epsilon=...)")
        defence = build_defence(dcard)
        x = {s: torch.as_tensor(getattr(data, s).x[clean_rows(dcard, getattr(data, s))]) for s in ("train", "val")}
        a = {s: torch.as_tensor(advs[s].x_adv[advs[s].fooled]) for s in ("train", "val")}
        history = defence.fit(x["train"], a["train"], x["val"], a["val"],
                              seed=run.seed, progress=progress)
        state = {"state_dict": defence.state_dict(), "n_features": data.spec.n_features,
                 "params": json.dumps(defence.params.model_dump(mode="json")), "history": json.dumps(history)}
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(state, tmp)
    return {"run": run.index, "dir": str(run.dir),
            "white_box_fooling_ratio": {s: advs[s].fooling_ratio for s in SPLITS},
            "fooling_adversaries": {s: int(advs[s].fooled.sum()) for s in SPLITS}, "detector": str(path)}


def load_detector(dcard: DefenceCard, run: BaseRun) -> FilterDefence:
    from hepadv.errors import CheckpointError

    path = detector_path(dcard, run)
    if not path.is_file():
        raise CheckpointError(f"{path}: no detector file" if not path.exists() else f"{path}: not a file")
    try:
        with warnings.catch_warnings():  # torch's notes about its safe unpickler are about our own load
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
        defence = build_defence(dcard)
        defence.load_state_dict(state["state_dict"], int(state["n_features"]))
    except Exception as exc:
        raise CheckpointError(f"{path}: not a detector state hepadv wrote ({type(exc).__name__}); "
                              "delete it and rerun to train the detector again") from None
    return defence


def score_matrices(models: list[torch.nn.Module], filters: list[Any], x_clean: torch.Tensor,
                   x_adv: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """(initial, corrected) fooling ratios [i, j]: adversaries of run j scored by model i and filter i.

    ``x_adv[j]`` are the adversaries of the same clean rows ``x_clean``, crafted on run j's model.
    """
    r = len(models)
    initial, corrected = np.zeros((r, len(x_adv))), np.zeros((r, len(x_adv)))
    for i, (model, filt) in enumerate(zip(models, filters, strict=True)):
        for j, xa in enumerate(x_adv):
            caught = ~filt.accepts(xa).cpu().numpy()
            initial[i, j], corrected[i, j] = fooling_ratios(fooled_by(model, x_clean, xa), caught)
    return initial, corrected


def _mean_std(a: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(a)), "std": float(np.std(a))}


def combine(dcard: DefenceCard, runs: list[BaseRun], shares: list[dict[str, Any]], out: Path,
            progress: Progress | None) -> dict[str, Any]:
    from hepadv.evaluation.roc import auc, roc_curve
    from hepadv.runs import load_trained
    from hepadv.training.loop import load_data

    models = [load_trained(r.dir, r.variant.name).model for r in runs]
    data = load_data(runs[0].card)
    spec, test = data.spec, data.test
    advs = [_run_adversaries(dcard, r, m, data, False)["test"] for r, m in zip(runs, models, strict=True)]
    filters = [load_detector(dcard, r) for r in runs]
    idx = advs[0].idx
    x_clean = torch.as_tensor(test.x[idx])
    x_adv = [torch.as_tensor(a.x_adv) for a in advs]
    initial, corrected = score_matrices(models, filters, x_clean, x_adv)
    r = len(runs)
    off = ~np.eye(r, dtype=bool)

    # White-box detector figures per run: clean test events and the run's own fooling test adversaries.
    x_all = torch.as_tensor(test.x[clean_rows(dcard, test)])
    clean_scores = [f.score(x_all).numpy() for f in filters]
    adv_scores = [f.score(xa[torch.as_tensor(a.fooled)]).numpy() for f, xa, a in zip(filters, x_adv, advs, strict=True)]
    thr = [f.threshold for f in filters]
    eff_clean = [float((s >= t).mean()) for s, t in zip(clean_scores, thr, strict=True)]
    eff_adv = [float((s < t).mean()) if len(s) else float("nan") for s, t in zip(adv_scores, thr, strict=True)]
    rocs, aucs = [], []
    for cs, as_ in zip(clean_scores, adv_scores, strict=True):
        if len(as_):
            roc = roc_curve(np.concatenate([cs, as_]), np.r_[np.ones(len(cs), bool), np.zeros(len(as_), bool)])
            rocs.append((roc.signal_eff, roc.mistag, auc(roc)))
            aucs.append(auc(roc))
        else:
            aucs.append(float("nan"))
    curves = {"clean (simulation)": np.stack([efficiency_curve(s, THRESHOLDS, True) for s in clean_scores]),
              "adversarial": np.stack([efficiency_curve(s, THRESHOLDS, False) for s in adv_scores])}

    # Repeated misclassification of clean events every base model classifies correctly (eq. 6's N_correct).
    from hepadv.defences.significance import repeated_misclassification

    y_all = test.y[clean_rows(dcard, test)]
    correct = np.all([predicted_class(m, x_all) == y_all for m in models], axis=0)
    flags = np.stack([s[correct] < t for s, t in zip(clean_scores, thr, strict=True)])
    significance = repeated_misclassification(flags) if correct.any() else None

    data_curve = None
    if dcard.data is not None:
        x_data = data_sample(dcard, runs[0], spec, models[0])
        data_scores = [f.score(x_data).numpy() for f in filters]
        curves["clean (\"data\")"] = np.stack([efficiency_curve(s, THRESHOLDS, True) for s in data_scores])
        data_curve = {"n_events": len(x_data), "efficiency_at_threshold": [
            float((s >= t).mean()) for s, t in zip(data_scores, thr, strict=True)]}

    metrics: dict[str, Any] = {
        "attack": build_attack(dcard.attack).describe(),
        "defence": {"name": dcard.defence.name, "params": dcard.defence.validated_params.model_dump(mode="json")},
        "attacked_test_events": len(idx),
        "attack_classes": dcard.attack_classes,
        "per_run": shares,
        "white_box": {
            "initial": np.diag(initial).tolist(), "corrected": np.diag(corrected).tolist(),
            "initial_mean": float(np.diag(initial).mean()), "corrected_mean": float(np.diag(corrected).mean()),
            "detector_efficiency_clean": eff_clean, "detector_efficiency_adversarial": eff_adv,
            "detector_auc": aucs,
        },
        "grey_box": {
            "initial_matrix": initial.tolist(), "corrected_matrix": corrected.tolist(),
            "initial": _mean_std(initial[off]), "corrected": _mean_std(corrected[off]),
            "initial_per_run": [float(initial[i, off[i]].mean()) for i in range(r)],
            "corrected_per_run": [float(corrected[i, off[i]].mean()) for i in range(r)],
        },
        "efficiency_vs_threshold": {"thresholds": THRESHOLDS.tolist(), **{
            name: {"mean": c.mean(axis=0).tolist(), "std": c.std(axis=0).tolist()} for name, c in curves.items()}},
        "significance": None if significance is None else significance.to_dict(),
        "data": data_curve,
    }
    if dcard.plots:
        _plots(out / PLOTS_DIR, dcard, initial, corrected, curves, rocs, significance)
        if spec.n_features == 2:
            donut_plots(out / PLOTS_DIR, spec, test, idx, advs[0], filters[0])
    return metrics


def data_sample(dcard: DefenceCard, run: BaseRun, spec: Any, model: torch.nn.Module) -> torch.Tensor:
    """The "data" events: the run's dataset regenerated (other seed) and distorted by a label-free attack."""
    from hepadv import get_dataset
    from hepadv.defences.crafting import craft
    from hepadv.random import derive_seed

    assert dcard.data is not None
    ds = run.card.dataset
    params = ds.validated_params.model_dump()
    overrides = dcard.data.dataset_params
    if overrides is None:
        if "seed" not in params:
            raise HepadvError(f"data: dataset {ds.name!r} has no seed parameter; set data.dataset_params to "
                              "make a sample the attack never saw")
        overrides = {"seed": int(params["seed"]) + 1000}
    cls = get_dataset(ds.name)
    raw = cls(cls.parse_params({**params, **overrides})).load()
    x = torch.as_tensor(spec.transform(raw.features[: dcard.data.max_events]))
    if dcard.data.distortion is not None:
        distortion = build_attack(dcard.data.distortion)
        x = craft(distortion, model, x, None, spec, derive_seed(dcard.run_card.seed, "defence-data"))
    return x


def _plots(plots: Path, dcard: DefenceCard, initial: np.ndarray, corrected: np.ndarray,
           curves: dict[str, np.ndarray], rocs: list[Any], significance: Any) -> None:
    from hepadv.defences.significance import plot_significance
    from hepadv.plotting import defences as P

    r = len(initial)
    off = ~np.eye(r, dtype=bool)
    init_runs = np.array([initial[i, off[i]] for i in range(r)])
    corr_runs = np.array([corrected[i, off[i]] for i in range(r)])
    P.per_run_bars(plots / "greybox_fooling_ratio.png", {
        "initial": (init_runs.mean(1), init_runs.std(1), P.RED),
        "corrected": (corr_runs.mean(1), corr_runs.std(1), P.GREY)}, "grey-box fooling ratio")
    P.matrix(plots / "initial_matrix.png", initial, "fooling ratio")
    P.matrix(plots / "corrected_matrix.png", corrected, "corrected fooling ratio")
    colours = [P.RED, P.GREY, P.BLUE]
    P.efficiency_vs_threshold(plots / "efficiency_vs_threshold.png", THRESHOLDS, {
        name: (c.mean(0), c.std(0), colours[k % 3]) for k, (name, c) in enumerate(curves.items())})
    if rocs:
        P.detector_rocs(plots / "detector_roc.png", [(tpr, fpr, a) for tpr, fpr, a in rocs])
    if significance is not None:
        plot_significance(significance, plots / "repeated_misclassification.png")


def donut_plots(plots: Path, spec: Any, test: Any, idx: np.ndarray, adv: Adversaries, filt: Any) -> None:
    """Figs. 17-21 of run 0 in original units: clean classes, marginals, adversaries, fooling, not caught."""
    from hepadv.plotting import defences as P

    names = (spec.names[0], spec.names[1])
    clean = spec.unscale(test.x)
    sig_idx = spec.classes.index("signal") if "signal" in spec.classes else len(spec.classes) - 1
    sig = clean[test.y == sig_idx]
    bkg = clean[test.y != sig_idx]
    adv_x = spec.unscale(adv.x_adv)
    attacked_bkg = test.y[idx] != sig_idx
    adv_bkg = adv_x[attacked_bkg]
    fooling = adv_x[adv.fooled & attacked_bkg]
    accepted_sig = sig[filt.accepts(torch.as_tensor(test.x[test.y == sig_idx])).numpy()]
    uncaught = adv_x[adv.fooled & attacked_bkg & filt.accepts(torch.as_tensor(adv.x_adv)).numpy()]
    P.point_cloud(plots / "fig17_clean.png", [(sig, "clean signal", P.BLUE), (bkg, "clean background", P.RED)], names)
    P.marginals(plots / "fig18_marginals.png", [(sig, "clean signal", P.BLUE), (bkg, "clean background", P.RED),
                                                (adv_bkg, "adversarial background", P.YELLOW)], names)
    P.point_cloud(plots / "fig19_adversarial.png",
                  [(sig, "clean signal", P.BLUE), (adv_bkg, "adversarial background", P.YELLOW)], names)
    P.point_cloud(plots / "fig20_fooling.png",
                  [(sig, "clean signal", P.BLUE), (fooling, "fooling adversarial background", P.YELLOW)], names)
    P.point_cloud(plots / "fig21_after_detector.png",
                  [(accepted_sig, "clean signal, accepted", P.BLUE),
                   (uncaught, "fooling adversaries, not caught", P.YELLOW)], names)
