"""All plots of one evaluated run: ROC curves, discriminator shapes, losses, AUC per epoch, susceptibility."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepadv.data.base import DEEPCSV_CLASSES
from hepadv.evaluation.discriminators import discriminator
from hepadv.evaluation.roc import discriminator_rocs
from hepadv.plotting.discriminants import plot_discriminator_shapes
from hepadv.plotting.roc import plot_roc
from hepadv.plotting.training import plot_auc_vs_epoch, plot_loss_curves, plot_susceptibility


def plot_run(results: dict[str, Any], probs: dict[str, dict[str, np.ndarray]], labels: np.ndarray, out: Path,
             discriminators: list[str]) -> list[Path]:
    """Write the run's plots into ``out``; ``probs[variant][raw|attack label]`` are test-set probabilities."""
    written: list[Path] = []
    legend = {"raw": "raw", **results.get("attack_legends", {})}
    rocs = {v: {key: discriminator_rocs(p, labels, names=discriminators) for key, p in by_key.items()}
            for v, by_key in probs.items()}
    for disc in discriminators:
        curves = {f"{v} {legend.get(key, key)}": r[disc] for v, by_key in rocs.items() for key, r in by_key.items()
                  if r[disc] is not None}
        if curves:
            written.append(plot_roc(curves, disc, out / f"roc_{disc}.png"))
        for v, by_key in probs.items():
            scores = discriminator(by_key["raw"], disc)
            by_flavour = {c: scores[labels == i] for i, c in enumerate(DEEPCSV_CLASSES) if (labels == i).any()}
            written.append(plot_discriminator_shapes(by_flavour, disc, out / f"shapes_{disc}_{v}.png"))
    histories = {v: e["history"] for v, e in results["variants"].items()}
    written.append(plot_loss_curves(histories, out / "loss.png"))
    names = [attack.split("(")[0] for attack in results["attacks"]]
    for i, attack in enumerate(results["attacks"]):
        slug = names[i] if names.count(names[i]) == 1 else f"{names[i]}_{names[:i + 1].count(names[i])}"
        for disc in discriminators:
            series = {}
            for v, e in results["variants"].items():
                rows = [r for r in e["per_epoch"] if r["raw"].get(disc) is not None]
                if rows:
                    series[v] = {"epoch": [r["epoch"] for r in rows], "raw": [r["raw"][disc] for r in rows],
                                 "attacked": [r[attack][disc] for r in rows], "filled": v != "nominal"}
            if series:
                short = legend.get(attack, attack)
                written.append(plot_auc_vs_epoch(series, disc, short, out / f"auc_vs_epoch_{disc}_{slug}.png"))
                written.append(plot_susceptibility(series, out / f"susceptibility_{disc}_{slug}.png", disc, short))
    return written
