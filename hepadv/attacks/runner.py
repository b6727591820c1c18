"""``hepadv attack``: attack the trained models of a run with any registered attack and report how visible it is.

Every attack, per-event or dataset-level, runs through ``Attack.generate``; the figures of merit are computed from
scratch on the final sets (``hepadv.evaluation.visibility``), so FGSM and CONSERVAttack can be compared number for
number. Each call writes ``RUN/attacks/ID/`` (ID: the attack's name and a content id of its params, the split and
the event count), one folder per variant with ``events.npz``, ``metrics.json`` and ``plots/``, plus
``summary.json``; the folder is staged beside its final place and published with one rename.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepadv.attacks.base import Attack
from hepadv.cards.schema import RunCard
from hepadv.errors import CardError, DataError
from hepadv.ids import named_id
from hepadv.io import atomic_path, write_json
from hepadv.progress import Progress, as_progress
from hepadv.random import RandomStream, derive_seed
from hepadv.runs.layout import METRICS_FILE, PLOTS_DIR, RunLayout, check_name
from hepadv.runs.trained import TrainedModel

DEFAULT_BINS = 200
SPLITS = ("train", "val", "test")


def attack_output_id(attack: Attack, split: str, n_events: int) -> str:
    """The folder name of one ``hepadv attack`` call: what was attacked, how, and on which events."""
    return named_id(attack.name, {"params": attack.main_params(), "split": split, "n": n_events})


def _predict(model: torch.nn.Module, x: torch.Tensor, batch: int = 65536) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([torch.softmax(model(x[i : i + batch]), 1) for i in range(0, len(x), batch)]
                         ).double().cpu().numpy()


@dataclass
class Outcome:
    """One attacked model: figures (from scratch), the sets and predictions, fooled and region masks."""

    metrics: dict[str, Any]
    x_adv: np.ndarray
    probs_clean: np.ndarray
    probs_adv: np.ndarray
    fooled: np.ndarray
    control: np.ndarray | None


def attack_model(attack: Attack, loaded: TrainedModel, x: torch.Tensor, y: torch.Tensor, num_bins: int,
                 rng: RandomStream, progress: Progress | None = None) -> Outcome:
    """Run ``attack`` on one model and compute its figures of merit from the final sets."""
    from hepadv.evaluation.fooling import FooledCriterion
    from hepadv.evaluation.visibility import figures_of_merit

    spec, model = loaded.spec, loaded.model
    t0 = time.perf_counter()
    result = attack.generate(model, x, y, spec, rng, progress)
    seconds = time.perf_counter() - t0
    x_adv, info = result.x_adv, dict(result.info)
    probs_clean, probs_adv = _predict(model, x), _predict(model, x_adv)
    criterion = info.pop("criterion", None) or FooledCriterion()
    control = info.pop("region_mask", None)
    disco_groups = info.pop("disco_groups", None)
    labels = y.cpu().numpy()
    metrics = figures_of_merit(x.cpu().numpy(), x_adv.cpu().numpy(), labels, probs_clean, probs_adv,
                               tuple(spec.names), tuple(spec.classes), dict(spec.discriminators), criterion,
                               num_bins, control, disco_groups)
    metrics.update(variant=loaded.variant, checkpoint=loaded.provenance.get("path"), epoch=loaded.epoch,
                   provenance=loaded.provenance, seconds=seconds, bins=num_bins, history=result.history,
                   info=info)
    return Outcome(metrics, x_adv.cpu().numpy(), probs_clean, probs_adv,
                   criterion.fooled(probs_clean, probs_adv), control)


def write_variant(out: Path, loaded: TrainedModel, outcome: Outcome, x: np.ndarray, labels: np.ndarray,
                  label: str) -> None:
    """events.npz (original units, names, labels, predictions), metrics.json and plots/ of one variant."""
    from hepadv.plotting.attack import plot_attack

    spec, m = loaded.spec, outcome.metrics
    clean_orig, adv_orig = spec.unscale(x), spec.unscale(outcome.x_adv)
    region = np.ones(len(x), bool) if outcome.control is None else outcome.control
    with atomic_path(out / "events.npz", suffix=".npz") as tmp:
        np.savez_compressed(tmp, x_adv=adv_orig, x_clean=clean_orig, feature_names=np.asarray(spec.names),
                            labels=labels, classes=np.asarray(spec.classes), probs_clean=outcome.probs_clean,
                            probs_adv=outcome.probs_adv, fooled=outcome.fooled, control_region=region)
    write_json(out / METRICS_FILE, m)
    plot_attack(clean_orig[region], adv_orig[region], tuple(spec.names), m["jsd_per_feature"], m["bins"],
                m["history"], out / PLOTS_DIR, label)


def run_attack(card: RunCard, attack: Attack, *, run_dir: Path | None = None, variant: str | None = None,
               split: str = "test", max_events: int | None = None, device: str | None = None,
               output: Path | None = None, progress: Progress | None = None, bins: int | None = None,
               train_if_missing: bool = True) -> tuple[Path, dict[str, Any]]:
    """Attack the trained variants of ``card``'s run (``run_dir``, default its output) with ``attack``.

    Trains the card first when a wanted variant has no model (``hepadv.runs.ensure``). Returns (output dir, summary).
    """
    from hepadv.runs.ensure import ensure_trained
    from hepadv.runs.lock import run_lock
    from hepadv.runs.outputs import publish_dir
    from hepadv.runs.trained import Run, check_spec, load_trained
    from hepadv.training.device import resolve_device, torch_threads

    progress = as_progress(progress)
    run = Run(run_dir if run_dir is not None else card.output_dir())
    names = [v.name for v in card.variants]
    if variant is not None and variant not in names:
        raise CardError(f"{run.dir}: no variant {variant!r}; variants: {', '.join(names)}")
    if split not in SPLITS:
        raise CardError(f"split {split!r}: expected train, val or test")
    wanted = [variant] if variant else names
    with run_lock(run.dir, progress.note), torch_threads(card.threads):
        ensure_trained(card, wanted, train_if_missing=train_if_missing, device=device, progress=progress)
        dev = resolve_device(device or card.device)
        models = [load_trained(run.dir, v, device=dev) for v in wanted]
        for m in models:
            attack.check(m.spec)  # param/feature mismatches before the data loads
        data = run.data(card)
        for m in models:
            check_spec(m.spec, data.spec, str(m.provenance.get("path")))
        part = getattr(data, split)
        n = len(part) if max_events is None else min(max_events, len(part))
        if n == 0:
            raise DataError(f"{run.dir}: the {split} split is empty; nothing to attack")
        x = torch.as_tensor(part.x[:n]).to(dev)
        y = torch.as_tensor(part.y[:n]).to(dev)
        num_bins = bins or getattr(attack.params, "num_bins", None) or DEFAULT_BINS
        out = output or RunLayout(run.dir).attack(attack_output_id(attack, split, n))
        summary: dict[str, Any] = {"plugin": attack.name, "attack": attack.describe(),
                                   "params": attack.params.model_dump(mode="json"), "run": str(run.dir),
                                   "split": split, "n_events": n, "variants": {}}
        stream = RandomStream(derive_seed(card.seed, "attack", attack.id(), split))
        with publish_dir(out) as staging:
            for m in models:
                torch.manual_seed(0)  # attacks drawing from torch's global generator are reproducible
                outcome = attack_model(attack, m, x, y, num_bins, stream, progress)
                metrics = outcome.metrics
                metrics.update(plugin=attack.name, params=summary["params"], split=split)
                write_variant(staging / check_name(m.variant, "variant"), m, outcome, x.cpu().numpy(),
                              y.cpu().numpy(), attack.short_label())
                summary["variants"][m.variant] = {k: metrics[k] for k in (
                    "fooling_ratio", "fooling_ratio_per_class", "mean_jsd", "dfn", "auc", "seconds",
                    "fooled_definition", "constant_features")} | {
                        k: metrics[k] for k in ("regions", "dfn_disco") if k in metrics}
            write_json(staging / "summary.json", summary)
    return out, summary
