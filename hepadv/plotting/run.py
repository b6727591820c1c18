"""All plots of one evaluated run: ROC curves, discriminator shapes, losses, AUC per epoch, susceptibility."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepadv.evaluation.discriminators import discriminator, discriminators_for
from hepadv.evaluation.roc import discriminator_rocs
from hepadv.evaluation.scoring import RAW
from hepadv.plotting.discriminants import plot_discriminator_shapes
from hepadv.plotting.roc import plot_roc
from hepadv.plotting.training import plot_auc_vs_epoch, plot_loss_curves, plot_susceptibility


def attack_slugs(attacks: list[dict[str, Any]]) -> dict[str, str]:
    """File-name part per attack id: the attack's name, numbered when a name repeats (shift up, shift down)."""
    names = [a["name"] for a in attacks]
    return {a["id"]: a["name"] if names.count(a["name"]) == 1 else f"{a['name']}_{names[: i + 1].count(a['name'])}"
            for i, a in enumerate(attacks)}


def plot_run(results: dict[str, Any], probs: dict[str, dict[str, np.ndarray]], labels: np.ndarray, out: Path,
             ) -> list[Path]:
    """Write the run's plots into ``out``; ``probs[variant][raw | attack id]`` are test-set probabilities."""
    written: list[Path] = []
    classes = tuple(results["classes"])
    discs = discriminators_for(classes)
    names = results["discriminators"]
    legend = {RAW: "raw", **{a["id"]: a["label"] for a in results["attacks"]}}
    rocs = {v: {key: discriminator_rocs(p, labels, names=names, classes=classes) for key, p in by_key.items()}
            for v, by_key in probs.items()}
    for disc in names:
        curves = {f"{v} {legend[key]}": r[disc] for v, by_key in rocs.items() for key, r in by_key.items()
                  if r[disc] is not None}
        if curves:
            written.append(plot_roc(curves, discs[disc], out / f"roc_{disc}.png"))
        for v, by_key in probs.items():
            scores = discriminator(by_key[RAW], discs[disc])
            by_class = {c: scores[labels == i] for i, c in enumerate(classes) if (labels == i).any()}
            written.append(plot_discriminator_shapes(by_class, disc, out / f"shapes_{disc}_{v}.png"))
    histories = {v: e["history"] for v, e in results["variants"].items()}
    best = {v: e.get("best_epoch") for v, e in results["variants"].items()}
    written.append(plot_loss_curves(histories, out / "loss.png", best_epochs=best))
    reference = results.get("comparison", {}).get("reference")
    for attack_id, slug in attack_slugs(results["attacks"]).items():
        for disc in names:
            series = {}
            for v, e in results["variants"].items():
                rows = [r for r in e["per_epoch"] if r[RAW].get(disc) is not None]
                if rows:
                    series[v] = {"epoch": [r["epoch"] for r in rows], "raw": [r[RAW][disc] for r in rows],
                                 "attacked": [r[attack_id][disc] for r in rows], "filled": v != reference,
                                 "best_epoch": e.get("best_epoch")}
            if series:
                short = legend[attack_id]
                written.append(plot_auc_vs_epoch(series, disc, short, out / f"auc_vs_epoch_{disc}_{slug}.png"))
                written.append(plot_susceptibility(series, out / f"susceptibility_{disc}_{slug}.png", disc, short))
    return written
