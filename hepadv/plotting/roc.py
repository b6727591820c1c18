"""ROC curves in the b-tagging convention: signal efficiency on x, mistag rate on a log y axis."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hepadv.evaluation.discriminators import DISCRIMINATORS, Discriminator
from hepadv.evaluation.roc import WORKING_POINTS, RocCurve, auc, efficiencies_at_mistag
from hepadv.plotting.style import add_label, new_figure, savefig, style_context

#: Curves with more points than this are resampled on a log-spaced mistag grid: 10^6 points per line
#: only slow rendering down, while the log grid keeps the low-mistag region that matters for tight WPs.
MAX_POINTS = 4000


def _plot_points(roc: RocCurve, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(efficiency, mistag) to draw, without the mistag = 0 points a log axis cannot show."""
    if len(roc) <= MAX_POINTS:
        keep = roc.mistag > 0
        return roc.signal_eff[keep], roc.mistag[keep]
    grid = np.geomspace(max(floor, roc.mistag[roc.mistag > 0].min()), 1.0, MAX_POINTS)
    return efficiencies_at_mistag(roc, grid), grid


def plot_roc(
    curves: dict[str, RocCurve],
    discriminator: str | Discriminator,
    path: str | os.PathLike[str],
    title: str | None = None,
) -> Path:
    """Overlay ROC curves (one per label, AUC in the legend) with the loose/medium/tight mistag lines.

    ``discriminator`` is a ``Discriminator`` (its class groups label the axes) or a DeepCSV name.
    """
    disc = discriminator if isinstance(discriminator, Discriminator) else DISCRIMINATORS.get(discriminator)
    discriminator_name = disc.name if disc else str(discriminator)
    xlabel = f"{disc.group_label('signal')} jet efficiency" if disc else "Signal efficiency"
    ylabel = f"{disc.group_label('background')} jet mistag rate" if disc else "Mistag rate"
    positive = [c.mistag[c.mistag > 0].min() for c in curves.values() if (c.mistag > 0).any()]
    floor = max(1e-5, 10 ** np.floor(np.log10(min(positive)))) if positive else 1e-4
    floor = min(floor, 1e-3 / 2)  # always leave room for the tight working point line

    with style_context():
        fig, ax = new_figure()
        for label, roc in curves.items():
            eff, mistag = _plot_points(roc, floor)
            ax.plot(eff, mistag, label=f"{label} (AUC = {auc(roc):.3f})")
        for wp, mistag in WORKING_POINTS.items():  # named outside the right edge, clear of curves and legend
            ax.axhline(mistag, color="grey", linestyle=":", linewidth=1)
            ax.text(1.01, mistag, wp, color="grey", fontsize="x-small", ha="left", va="center",
                    transform=ax.get_yaxis_transform())
        ax.set_yscale("log")
        ax.set_xlim(0.0, 1.0)
        ax.tick_params(axis="x", which="both", pad=16)  # the x axis' 0.0 below the y axis' lowest decade
        ax.set_ylim(floor, 1.0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if curves:  # where the curves leave room: upper left for a good tagger, lower right for a weak one
            ax.legend(title=title or discriminator_name, loc="best", fontsize="x-small", title_fontsize="small")
        add_label(ax)
        return savefig(fig, path)
