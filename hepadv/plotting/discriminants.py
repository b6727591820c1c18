"""Shapes of a discriminator per true flavour: shows where the tagger puts each class, before any cut."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hepadv.plotting.style import FLAVOUR_COLOURS, add_label, colours, new_figure, savefig, style_context

N_BINS = 50


def plot_discriminator_shapes(
    scores_by_flavour: dict[str, np.ndarray],
    name: str,
    path: str | os.PathLike[str],
    weights_by_flavour: dict[str, np.ndarray] | None = None,
    logy: bool = True,
) -> Path:
    """Unit-area step histograms (50 bins over [0, 1]) of discriminator ``name``, one per flavour.

    Normalised because flavour fractions differ by orders of magnitude; log y by default because the
    interesting tails sit far below the peaks at 0 and 1.
    """
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    with style_context():
        fig, ax = new_figure()
        cycle = colours()
        drawn = 0
        for i, (flavour, scores) in enumerate(scores_by_flavour.items()):
            scores = np.asarray(scores, dtype=np.float64).ravel()
            weights = None if weights_by_flavour is None else weights_by_flavour.get(flavour)
            counts, _ = np.histogram(scores, bins=edges, weights=weights)
            total = counts.sum()
            if total <= 0:
                continue
            colour = FLAVOUR_COLOURS.get(flavour, cycle[i % len(cycle)])
            ax.stairs(counts / (total * np.diff(edges)), edges, label=flavour, color=colour, linewidth=1.5)
            drawn += 1
        if logy and drawn:
            ax.set_yscale("log")
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel(f"{name} discriminator")
        ax.set_ylabel("Normalised to unit area")
        if drawn:
            ax.legend(title="True flavour", fontsize="small")
        add_label(ax)
        return savefig(fig, path)
