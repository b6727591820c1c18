"""``hepadv evaluate``: raw and attacked performance of every trained variant, for the best and every epoch.

Orchestration only: models come from the run directory (``hepadv.runs``), numbers from ``scoring`` and
``comparison``, files from ``report``. Returns the same results it writes to ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hepadv.attacks.base import Attack
from hepadv.cards.schema import RunCard
from hepadv.data.preprocess import PreparedData
from hepadv.errors import CardError, CheckpointError
from hepadv.evaluation.comparison import compare
from hepadv.evaluation.scoring import score_model, transfer_matrix
from hepadv.progress import Progress, as_progress
from hepadv.runs.layout import RunLayout
from hepadv.runs.trained import check_spec, load_trained
from hepadv.training.checkpoint import epoch_checkpoints
from hepadv.training.device import resolve_device, torch_threads


def build_attacks(card: RunCard) -> list[Attack]:
    from hepadv import get_attack

    return [get_attack(spec.name)(spec.validated_params) for spec in card.evaluation.attacks]


def evaluate_run(card: RunCard, *, device: str | None = None, data: PreparedData | None = None,
                 progress: Progress | None = None, run_dir: Path | None = None) -> dict[str, Any]:
    """Evaluate every trained variant of ``card`` (models read from ``run_dir``, default the card's output)."""
    with torch_threads(card.threads):
        return _evaluate_run(card, device, data, progress, run_dir)


def _evaluate_run(card: RunCard, device: str | None, data: PreparedData | None, progress: Progress | None,
                  run_dir: Path | None) -> dict[str, Any]:
    from hepadv.evaluation.outputs import write_evaluation
    from hepadv.training.loop import load_data

    out = Path(run_dir) if run_dir is not None else card.output_dir()
    dev = resolve_device(device or card.device)
    names = [v.name for v in card.variants]
    best = {v: load_trained(out, v, "best", dev) for v in names}  # fails early, before any data is loaded
    if data is None:
        data = load_data(card)
    for v, trained in best.items():
        check_spec(trained.spec, data.spec, f"{out / v}")
    spec = data.spec
    ev = card.evaluation
    discs = list(ev.discriminators or spec.discriminators)
    unknown = [d for d in discs if d not in spec.discriminators]
    if unknown:
        raise CardError(f"evaluation.discriminators: {unknown[0]!r} is not a discriminator of classes "
                        f"{', '.join(spec.classes)}; known: {', '.join(spec.discriminators)}")
    n = len(data.test) if ev.max_jets is None else min(ev.max_jets, len(data.test))
    x = torch.as_tensor(data.test.x[:n]).to(dev)
    y = torch.as_tensor(data.test.y[:n]).to(dev)
    attacks = build_attacks(card)
    seed = card.evaluation_seed()
    transfer = ev.transfer and len(names) > 1

    results: dict[str, Any] = {"run_dir": str(out), "n_test_jets": n, "classes": list(spec.classes),
                               "discriminators": discs, "attacks": [a.describe() for a in attacks], "variants": {}}
    probs: dict[str, dict[str, Any]] = {}
    crafted: dict[str, dict[str, torch.Tensor]] = {}
    for name, trained in best.items():
        scored = score_model(trained.model, x, y, spec, attacks, discs, ev.batch_size, seed, keep_inputs=transfer)
        probs[name], crafted[name] = scored.probs, scored.inputs
        entry: dict[str, Any] = {"best_epoch": trained.provenance.get("best_epoch"), "metrics": scored.metrics,
                                 "history": run_history(out, name, trained.history), "per_epoch": []}
        if ev.every_epoch:
            epochs = epoch_checkpoints(RunLayout(out).checkpoints(name))
            with as_progress(progress).task(f"evaluating {name}", total=len(epochs), unit="epoch") as bar:
                for epoch, _path in epochs:
                    if epoch == trained.epoch:
                        aucs = scored.aucs()  # the best checkpoint, already scored
                    else:
                        model = load_trained(out, name, epoch, dev).model
                        aucs = score_model(model, x, y, spec, attacks, discs, ev.batch_size, seed).aucs()
                    entry["per_epoch"].append({"epoch": epoch, **aucs})
                    bar.advance()
        results["variants"][name] = entry
    attack_ids = [a.id() for a in attacks]
    results["comparison"] = compare({v: e["metrics"] for v, e in results["variants"].items()}, attack_ids,
                                    card.reference_variant(), discs[0])
    if transfer:
        results["transfer"] = transfer_matrix({v: t.model for v, t in best.items()}, crafted, y.cpu().numpy(),
                                              discs, spec.classes, ev.batch_size)
    write_evaluation(out, results, probs, data.test.y[:n], plots=ev.plots)
    return results


def run_history(run_dir: Path, variant: str, fallback: dict[str, Any]) -> dict[str, Any]:
    """The variant's history over every completed epoch: ``history.json``, else the last checkpoint's.

    Not the best checkpoint's (``fallback``, used only when neither exists): that one stops at the best epoch,
    so an early-stopped or plateaued run would hide the epochs after it.
    """
    from hepadv.io import read_json
    from hepadv.training.checkpoint import load_checkpoint

    path = RunLayout(run_dir).variant_history(variant)
    if path.is_file():
        try:
            history = read_json(path)
        except ValueError as exc:
            raise CheckpointError(f"{path}: unreadable training history ({exc})") from None
        if not isinstance(history, dict) or not isinstance(history.get("epoch"), list):
            raise CheckpointError(f"{path}: not a training history (expected an object with an 'epoch' list)")
        return history
    last = RunLayout(run_dir).checkpoint(variant, "last")
    if last.is_file():
        return dict(load_checkpoint(last, map_location="cpu").get("history") or fallback)
    return fallback
