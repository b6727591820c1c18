"""Training histories and robustness against training progress (paper figs. 7 and 9).

Each model keeps one colour across a plot; line style (or marker fill) tells raw from distorted inputs,
so the gap between a model's two lines is its susceptibility at that epoch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from hepadv.evaluation.robustness import susceptibility
from hepadv.plotting.style import add_label, colours, new_figure, savefig, style_context


def _epochs(entry: dict[str, Any], n: int) -> np.ndarray:
    """The entry's own epoch numbers when given, else 1..n."""
    epochs = entry.get("epoch")
    return np.asarray(epochs) if epochs is not None else np.arange(1, n + 1)


#: How the best epoch (the checkpoint evaluated and kept as best.pt) is marked on every per-epoch curve.
BEST_MARKER = {"marker": "*", "markersize": 14, "markeredgecolor": "black", "markeredgewidth": 0.8, "zorder": 4}


def _mark_best(ax: Any, epochs: np.ndarray, values: Sequence[float], best: int | None, colour: str) -> bool:
    """A star on the curve at the best epoch; False when that epoch is not on it."""
    hit = np.flatnonzero(epochs == best) if best is not None else []
    if len(hit) == 0:
        return False
    ax.plot([best], [values[int(hit[0])]], linestyle="none", color=colour, **BEST_MARKER)
    return True


def plot_loss_curves(
    histories: dict[str, dict[str, Sequence[float]]], path: str | os.PathLike[str], logy: bool = False,
    best_epochs: dict[str, int | None] | None = None,
) -> Path:
    """Training (solid) and validation (dashed) loss for every completed epoch, one colour per model.

    ``best_epochs[model]`` (lowest validation loss: the checkpoint that is evaluated) is starred on the
    validation curve; the epochs after it are drawn too, so an early-stopped or plateaued run shows its tail.
    """
    best_epochs = best_epochs or {}
    with style_context():
        fig, ax = new_figure()
        cycle = colours()
        starred = False
        for i, (label, hist) in enumerate(histories.items()):
            colour = cycle[i % len(cycle)]
            for key, style in (("train_loss", "-"), ("val_loss", "--")):
                values = hist.get(key)
                if values is None or len(values) == 0:
                    continue
                epochs = _epochs(hist, len(values))
                ax.plot(epochs, values, linestyle=style, color=colour, marker="o", markersize=3)
                if key == "val_loss":
                    starred |= _mark_best(ax, epochs, values, best_epochs.get(label), colour)
            ax.plot([], [], color=colour, label=label)
        _style_legend(ax, {"training": "-", "validation": "--"}, best=starred)
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Loss")
        add_label(ax)
        return savefig(fig, path)


def plot_auc_vs_epoch(
    data: dict[str, dict[str, Sequence[float]]],
    discriminator: str,
    attack_label: str,
    path: str | os.PathLike[str],
) -> Path:
    """AUC per epoch checkpoint on raw (solid) and attacked (dashed) inputs, one colour per model (fig. 7).

    An entry's ``best_epoch`` is starred on its raw curve.
    """
    with style_context():
        fig, ax = new_figure()
        cycle = colours()
        starred = False
        for i, (label, entry) in enumerate(data.items()):
            colour = cycle[i % len(cycle)]
            epochs = _epochs(entry, len(entry["raw"]))
            ax.plot(epochs, entry["raw"], linestyle="-", color=colour, marker="o", markersize=3, label=label)
            starred |= _mark_best(ax, epochs, entry["raw"], entry.get("best_epoch"), colour)
            if entry.get("attacked") is not None:
                ax.plot(epochs, entry["attacked"], linestyle="--", color=colour, marker="o", markersize=3)
        _style_legend(ax, {"raw": "-", attack_label: "--"}, best=starred)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(f"{discriminator} AUC")
        add_label(ax)
        return savefig(fig, path)


def plot_susceptibility(
    data: dict[str, dict[str, Any]],
    path: str | os.PathLike[str],
    discriminator: str = "BvsL",
    attack_label: str | None = None,
) -> Path:
    """AUC(attacked) - AUC(raw) against raw AUC, one point per epoch checkpoint (fig. 9).

    Same input as ``plot_auc_vs_epoch``. An entry may set ``"filled": False`` for empty markers, as the
    paper draws the nominal training; points of one series are joined in epoch order to show the trend.
    """
    with style_context():
        fig, ax = new_figure()
        cycle = colours()
        for i, (label, entry) in enumerate(data.items()):
            colour = cycle[i % len(cycle)]
            raw = np.asarray(entry["raw"], dtype=np.float64)
            delta = np.asarray(susceptibility(raw, entry["attacked"]))
            order = np.argsort(_epochs(entry, len(raw)), kind="stable")
            ax.plot(raw[order], delta[order], color=colour, linewidth=0.8, alpha=0.5)
            filled = entry.get("filled", True)
            ax.scatter(
                raw,
                delta,
                label=label,
                edgecolors=colour,
                facecolors=colour if filled else "none",
                s=25,
                zorder=3,
            )
        ax.axhline(0.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(f"{discriminator} AUC (raw)")
        ax.set_ylabel(f"AUC({attack_label or 'distorted'}) - AUC(raw)")
        ax.legend(fontsize="small")
        add_label(ax)
        return savefig(fig, path)


def _style_legend(ax: Any, styles: dict[str, str], best: bool = False) -> None:
    """Legend listing models by colour, then black proxy lines explaining the line styles (and the star)."""
    handles, labels = ax.get_legend_handles_labels()
    for name, style in styles.items():
        handles.append(Line2D([], [], color="black", linestyle=style))
        labels.append(name)
    if best:
        handles.append(Line2D([], [], linestyle="none", color="white", **BEST_MARKER))
        labels.append("best epoch")
    ax.legend(handles, labels, fontsize="small")
