"""``hepadv attack``: attack the trained models of a run with any registered attack and report how visible it is.

Per-event attacks (FGSM, PGD, ...) run batched through ``Attack.__call__``; dataset-level ones through
``DatasetAttack.run``. Either way the figures of merit are computed from scratch on the final sets
(``conservattack.figures``), so FGSM and CONSERVAttack can be compared number for number. Each call writes
``RUN/attacks/<plugin>-<hash>/`` (hash of plugin, params, split and event count), one folder per variant with
``events.npz``, ``metrics.json`` and ``plots/``, plus ``summary.json``; the folder is assembled beside its
final place and renamed into it, so a reader never sees half of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepadv.attacks.dataset_level import attack_kind
from hepadv.cards.schema import RunCard
from hepadv.errors import CardError, CheckpointError, DataError, HepadvError
from hepadv.io import atomic_path, write_json
from hepadv.runs import Run, TrainedModel

log = logging.getLogger("hepadv.attacks")
DEFAULT_BINS = 200


def resolve_target(target: Path) -> tuple[Run, RunCard]:
    """A run card (its output directory is the run) or a run directory (its recorded ``config.json``)."""
    from hepadv.runs import CONFIG_FILE, open_run

    if target.is_dir() and not (target / CONFIG_FILE).is_file():
        raise CheckpointError(f"{target}: not a hepadv run directory (no {CONFIG_FILE}); "
                              "pass a run card or the output directory of hepadv train")
    if not target.exists():
        raise CardError(f"{target}: no such run card or run directory")
    return open_run(target)


def attack_hash(plugin: str, params: dict[str, Any], split: str, n_events: int) -> str:
    blob = json.dumps({"plugin": plugin, "params": params, "split": split, "n": n_events}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


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
    control_adv: np.ndarray | None = None


def attack_model(attack: Any, loaded: TrainedModel, x: torch.Tensor, y: torch.Tensor, progress: bool,
                 num_bins: int) -> Outcome:
    """Run ``attack`` on one model and compute its figures of merit from the final sets."""
    from hepadv.attacks.conservattack.figures import figures_of_merit
    from hepadv.attacks.conservattack.targets import FooledCriterion, discriminators_for
    spec, model = loaded.spec, loaded.model
    t0 = time.perf_counter()
    history: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    if attack_kind(type(attack)) == "dataset":
        result = attack.run(model, x, y if attack.needs_labels else None, spec, progress=progress)
        x_adv, history, info = result.x_adv, result.history, dict(result.info)
    else:
        x_adv = attack(model, x, y if attack.needs_labels else None, spec)
    seconds = time.perf_counter() - t0
    probs_clean, probs_adv = _predict(model, x), _predict(model, x_adv)
    criterion = info.pop("criterion", None) or FooledCriterion()
    control = info.pop("region_mask", None)
    cut = info.pop("cut", None)  # the validator's view: the cut re-applied to the attacked set
    control_adv = None if cut is None else (~cut.signal_region(x_adv)).cpu().numpy()
    disco_groups = info.pop("disco_groups", None)
    labels = y.cpu().numpy()
    metrics = figures_of_merit(x.cpu().numpy(), x_adv.cpu().numpy(), labels, probs_clean, probs_adv,
                               tuple(spec.names), tuple(spec.classes), discriminators_for(spec), criterion,
                               num_bins, control, disco_groups, control_adv)
    metrics.update(variant=loaded.variant, checkpoint=loaded.provenance.get("path"), epoch=loaded.epoch,
                   provenance=loaded.provenance, seconds=seconds,
                   bins=num_bins, history=history, info=info)
    return Outcome(metrics, x_adv.cpu().numpy(), probs_clean, probs_adv,
                   criterion.fooled(probs_clean, probs_adv), control, control_adv)


def write_variant(out: Path, loaded: TrainedModel, outcome: Outcome, x: np.ndarray, labels: np.ndarray,
                  label: str) -> None:
    """events.npz (original units, names, labels, predictions), metrics.json and plots/ of one variant."""
    from hepadv.plotting.attack import plot_attack

    spec, m = loaded.spec, outcome.metrics
    clean_orig, adv_orig = spec.unscale(x), spec.unscale(outcome.x_adv)
    region = np.ones(len(x), bool) if outcome.control is None else outcome.control
    region_adv = region if outcome.control_adv is None else outcome.control_adv
    with atomic_path(out / "events.npz", suffix=".npz") as tmp:
        np.savez_compressed(tmp, x_adv=adv_orig, x_clean=clean_orig, feature_names=np.asarray(spec.names),
                            labels=labels, classes=np.asarray(spec.classes), probs_clean=outcome.probs_clean,
                            probs_adv=outcome.probs_adv, fooled=outcome.fooled, control_region=region,
                            control_region_adv=region_adv)
    write_json(out / "metrics.json", m)
    plot_attack(clean_orig[region], adv_orig[region_adv], tuple(spec.names), m["jsd_per_feature"], m["bins"],
                m["history"], out / "plots", label)


def run_attack(target: Path, plugin: str, params: dict[str, Any], *, variant: str | None = None,
               split: str = "test", max_events: int | None = None, device: str | None = None,
               output: Path | None = None, progress: bool = True, bins: int | None = None,
               say: Any = print) -> tuple[Path, dict[str, Any]]:
    """Attack the run at ``target`` (card or run dir) with ``plugin``; returns (output dir, summary)."""
    from hepadv import get_attack
    from hepadv.runs import check_spec, checkpoint_dir, load_trained
    from hepadv.training.device import resolve_device
    from hepadv.training.loop import train

    cls = get_attack(plugin)
    attack = cls(params)
    run, card = resolve_target(target)
    run_dir = run.dir
    names = [v.name for v in card.variants]
    if variant is not None and variant not in names:
        raise CardError(f"{target}: no variant {variant!r}; variants: {', '.join(names)}")
    wanted = [variant] if variant else names
    missing = [v for v in wanted if not (checkpoint_dir(run_dir, v) / "best.pt").is_file()]
    if missing and target.is_file():
        say(f"no trained models for {', '.join(missing)} in {run_dir}: training them first "
            f"(hepadv train {target})")
        train(card, resume=True, device=device, progress=progress)
    dev = resolve_device(device or card.device)
    models = [load_trained(run_dir, v, device=dev) for v in wanted]
    for m in models:
        getattr(attack, "check", lambda spec: None)(m.spec)  # param/feature mismatches before the data loads
    data = run.data(card)
    for m in models:
        check_spec(m.spec, data.spec, str(m.provenance.get("path")))
    part = getattr(data, split)
    n = len(part) if max_events is None else min(max_events, len(part))
    if n == 0:
        raise DataError(f"{run_dir}: the {split} split is empty; nothing to attack")
    if n < 2 and attack_kind(cls) == "dataset":
        raise DataError(f"{run_dir}: {split} split has {n} event; a dataset-level attack needs at least 2")
    x = torch.as_tensor(part.x[:n]).to(dev)
    y = torch.as_tensor(part.y[:n]).to(dev)
    num_bins = bins or getattr(attack.params, "num_bins", None) or DEFAULT_BINS
    params_json = attack.params.model_dump(mode="json")
    out = output or run_dir / "attacks" / f"{plugin}-{attack_hash(plugin, params_json, split, n)}"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    summary: dict[str, Any] = {"plugin": plugin, "params": params_json, "run": str(run_dir), "split": split,
                               "n_events": n, "variants": {}}
    try:
        for m in models:
            torch.manual_seed(0)  # attacks drawing from torch's global generator are reproducible
            outcome = attack_model(attack, m, x, y, progress, num_bins)
            metrics = outcome.metrics
            metrics.update(plugin=plugin, params=params_json, split=split)
            write_variant(tmp / m.variant, m, outcome, x.cpu().numpy(), y.cpu().numpy(), attack.short_label())
            summary["variants"][m.variant] = {k: metrics[k] for k in (
                "fooling_ratio", "fooling_ratio_per_class", "mean_jsd", "dfn", "auc", "seconds",
                "fooled_definition", "constant_features")} | {
                    k: metrics[k] for k in ("regions", "dfn_disco") if k in metrics}
        write_json(tmp / "summary.json", summary)
        os.chmod(tmp, 0o755)
        if out.exists():
            trash = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old."))
            os.replace(out, trash / "old")
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out, summary


def check_params(plugin: str, params: dict[str, Any]) -> None:
    """Validate attack params early, as one line naming the bad field."""
    from pydantic import ValidationError

    from hepadv import get_attack
    from hepadv.cards.load import describe_error

    cls = get_attack(plugin)
    try:
        cls.parse_params(params)
    except ValidationError as exc:
        raise HepadvError(f"{plugin} params: {describe_error(exc, cls.Params)}") from None
