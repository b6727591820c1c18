"""``hepadv evaluate``: raw and attacked performance of every variant, for the best and every epoch.

Writes ``metrics.json`` and the plots into the run directory and returns the same numbers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepadv.attacks.base import Attack
from hepadv.cards.schema import RunCard
from hepadv.data.preprocess import PreparedData
from hepadv.errors import HepadvError
from hepadv.evaluation.robustness import auc_drop
from hepadv.evaluation.roc import evaluate_discriminators
from hepadv.io import write_json
from hepadv.models.base import Model
from hepadv.training.checkpoint import epoch_checkpoints, load_checkpoint, load_model_state
from hepadv.training.device import resolve_device


def build_attacks(card: RunCard) -> list[Attack]:
    from hepadv import get_attack

    return [get_attack(spec.name)(spec.validated_params) for spec in card.evaluation.attacks]


def _probs(model: Model, x: torch.Tensor, batch_size: int) -> np.ndarray:
    return model.predict_proba(x, batch_size).cpu().numpy()


def evaluate_model(model: Model, x: torch.Tensor, y: torch.Tensor, data: PreparedData, attacks: list[Attack],
                   discriminators: list[str], batch_size: int, keep_inputs: bool = False) -> dict[str, Any]:
    """Metrics of one model on raw inputs and under each attack; also returns the probabilities.

    With ``keep_inputs`` the attacked inputs of model-dependent attacks come back too (``inputs``),
    so they can be replayed against other models (transferability).
    """
    labels = y.cpu().numpy()
    probs = {"raw": _probs(model, x, batch_size)}
    inputs: dict[str, torch.Tensor] = {}
    for attack in attacks:
        x_adv = attack(model, x, y if attack.needs_labels else None, data.spec)
        probs[attack.label()] = _probs(model, x_adv, batch_size)
        if keep_inputs and attack.needs_labels:
            inputs[attack.label()] = x_adv
    metrics = {key: evaluate_discriminators(p, labels, names=discriminators) for key, p in probs.items()}
    return {"metrics": metrics, "probs": probs, "inputs": inputs}


def transfer_matrix(models: dict[str, Model], inputs: dict[str, dict[str, torch.Tensor]], labels: np.ndarray,
                    discriminators: list[str], batch_size: int) -> dict[str, Any]:
    """Grey-box check (paper app. B.2): adversarial inputs crafted on each model, scored by every model.

    ``inputs[source][attack]`` are the attacked inputs crafted on ``source``; the result is
    ``[attack][source][target][discriminator] -> AUC``, the diagonal being the white-box numbers.
    """
    out: dict[str, Any] = {}
    for source, by_attack in inputs.items():
        for attack, x_adv in by_attack.items():
            row = out.setdefault(attack, {}).setdefault(source, {})
            for target, model in models.items():
                metrics = evaluate_discriminators(_probs(model, x_adv, batch_size), labels, names=discriminators)
                row[target] = {d: m["auc"] for d, m in metrics.items()}
    return out


def _load_into(model: Model, path: Path, device: torch.device) -> dict[str, Any]:
    state = load_checkpoint(path, map_location=device)
    load_model_state(model, state, path)
    model.eval()
    return state


def evaluate_run(card: RunCard, *, device: str | None = None, data: PreparedData | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Evaluate every trained variant of ``card`` and write metrics.json and plots."""
    from hepadv.training.loop import build_model_for, load_data

    out = card.output_dir()
    dev = resolve_device(device or card.device)
    if data is None:
        data = load_data(card)
    ev = card.evaluation
    n = len(data.test) if ev.max_jets is None else min(ev.max_jets, len(data.test))
    x = torch.as_tensor(data.test.x[:n]).to(dev)
    y = torch.as_tensor(data.test.y[:n]).to(dev)
    attacks = build_attacks(card)
    torch.manual_seed(card.seed)
    results: dict[str, Any] = {"n_test_jets": n, "attacks": [a.label() for a in attacks],
                               "attack_legends": {a.label(): a.short_label() for a in attacks}, "variants": {}}
    probs_by_variant: dict[str, dict[str, np.ndarray]] = {}
    best_models: dict[str, Model] = {}
    crafted: dict[str, dict[str, torch.Tensor]] = {}
    transfer = ev.transfer and len(card.variants) > 1
    for variant in card.variants:
        ckpt_dir = out / variant.name / "checkpoints"
        if not (ckpt_dir / "best.pt").is_file():
            raise HepadvError(f"{ckpt_dir}: no trained model for variant {variant.name!r}; run hepadv train first")
        model = build_model_for(card, data).to(dev)
        state = _load_into(model, ckpt_dir / "best.pt", dev)
        best = evaluate_model(model, x, y, data, attacks, ev.discriminators, ev.batch_size, keep_inputs=transfer)
        probs_by_variant[variant.name] = best["probs"]
        if transfer:
            crafted[variant.name] = best["inputs"]
            best_models[variant.name] = copy.deepcopy(model).eval()  # the loop below reloads ``model``
        entry: dict[str, Any] = {"best_epoch": state["best_epoch"], "metrics": best["metrics"],
                                 "history": state["history"], "per_epoch": []}
        if ev.every_epoch:
            for epoch, path in _progress(epoch_checkpoints(ckpt_dir), progress, f"evaluating {variant.name}"):
                if epoch == state["best_epoch"]:
                    metrics = best["metrics"]  # already evaluated above
                else:
                    _load_into(model, path, dev)
                    metrics = evaluate_model(model, x, y, data, attacks, ev.discriminators, ev.batch_size)["metrics"]
                entry["per_epoch"].append({"epoch": epoch, **{
                    key: {d: m["auc"] for d, m in met.items()} for key, met in metrics.items()}})
        results["variants"][variant.name] = entry
    results["comparison"] = compare(results, attacks)
    if transfer:
        results["transfer"] = transfer_matrix(best_models, crafted, y.cpu().numpy(), ev.discriminators,
                                              ev.batch_size)
    write_json(out / "metrics.json", results)
    if ev.plots:
        from hepadv.plotting.run import plot_run

        plot_run(results, probs_by_variant, data.test.y[:n], out / "plots", ev.discriminators)
    return results


def compare(results: dict[str, Any], attacks: list[Attack]) -> dict[str, Any]:
    """AUC drop of every variant under every attack, and the papers' two checks when both models exist."""
    table: dict[str, Any] = {}
    for name, entry in results["variants"].items():
        raw = entry["metrics"]["raw"]
        table[name] = {}
        for attack in attacks:
            table[name][attack.label()] = auc_drop(raw, entry["metrics"][attack.label()])
    checks: dict[str, Any] = {}
    if "nominal" in table and len(table) > 1 and attacks:
        label = attacks[0].label()
        for other in (n for n in table if n != "nominal"):
            nom, adv = table["nominal"][label], table[other][label]
            ratios = {d: _drop_ratio(nom[d], adv[d]) for d in nom}
            check: dict[str, Any] = {"attack": label, "drop_ratio": ratios}
            if "BvsL" in nom and None not in (nom["BvsL"]["raw"], adv["BvsL"]["raw"]):
                check["raw_auc_difference_BvsL"] = adv["BvsL"]["raw"] - nom["BvsL"]["raw"]
                check["raw_within_0.01"] = abs(check["raw_auc_difference_BvsL"]) <= 0.01
            check["drop_at_most_half"] = {d: r is not None and r <= 0.5 for d, r in ratios.items()}
            checks[other] = check
    return {"table": table, "checks": checks}


def _progress(items: list[Any], enabled: bool, label: str) -> Any:
    if not enabled or not items:
        return items
    from rich.progress import track

    from hepadv.cli.console import console

    return track(items, description=label, console=console, transient=True)


def _drop_ratio(nominal: dict[str, Any], other: dict[str, Any]) -> float | None:
    """AUC drop of ``other`` over the nominal's drop (None when undefined or the nominal does not drop)."""
    if None in (nominal["delta"], other["delta"]) or nominal["delta"] >= 0:
        return None
    return other["delta"] / nominal["delta"]
