"""Plots of one attacked set: how visible the attack is in the histograms and correlations (seed 004 figs. 1, 2).

* ``histograms.png``: clean vs adversarial histograms of the features with minimal, median and maximal JSD,
  each with an adversarial/clean ratio panel (fig. 1);
* ``correlations.png``: the clean and adversarial Pearson matrices side by side, and their difference (fig. 2);
* ``history.png``: fooling ratio, mean JSD and dFN against the iteration (dataset-level attacks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hepadv.evaluation.visibility import correlation_change, histogram_pair
from hepadv.plotting.style import (
    add_figure_label,
    add_label,
    leave_room_for_legend,
    new_figure,
    savefig,
    style_context,
)


def min_median_max(jsd: dict[str, float]) -> list[str]:
    """Feature names with the smallest, the median and the largest JSD (paper fig. 1)."""
    ordered = sorted(jsd, key=lambda k: (jsd[k], k))
    return [ordered[0], ordered[len(ordered) // 2], ordered[-1]]


def display_bins(clean: np.ndarray, adv: np.ndarray, num_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(edges, clean counts, adversarial counts) to draw; under/overflow are counted in the JSD, not drawn.

    An integer-valued feature (track and vertex counts) gets one unit bin per value: in ``num_bins`` bins over
    its range most bins would be empty and each value a one-bin spike, under which the clean fill vanishes.
    """
    values = clean[np.isfinite(clean)]
    if len(values) and np.all(values == np.round(values)) and values.max() - values.min() <= num_bins:
        edges = np.arange(values.min() - 0.5, values.max() + 1.0)
        return edges, np.histogram(clean, edges)[0], np.histogram(adv, edges)[0]
    edges, c, a = histogram_pair(clean, adv, num_bins)
    return edges, c[1:-1], a[1:-1]


def plot_histograms(clean: np.ndarray, adv: np.ndarray, names: tuple[str, ...], jsd: dict[str, float],
                    num_bins: int, path: Path, label: str) -> Path:
    """Fig. 1: three features, original units, clean (filled) vs adversarial (line), ratio below."""
    from matplotlib.ticker import MaxNLocator

    with style_context():
        fig = Figure(figsize=(21, 8), layout="constrained")
        fig.get_layout_engine().set(hspace=0.0, h_pad=0.0)  # the ratio panel sits right under its histogram
        grid = fig.add_gridspec(2, 3, height_ratios=(3, 1))
        for col, (name, what) in enumerate(zip(min_median_max(jsd), ("minimal", "median", "maximal"), strict=True)):
            j = names.index(name)
            edges, c, a = display_bins(clean[:, j], adv[:, j], num_bins)
            top, bottom = fig.add_subplot(grid[0, col]), fig.add_subplot(grid[1, col])
            top.stairs(c, edges, fill=True, alpha=0.35, label="clean")
            top.stairs(a, edges, linewidth=1.5, label=label)
            top.set_ylabel("Events")
            positive = c[c > 0]
            log = len(positive) > 0 and c.max() > 50 * max(float(np.median(positive)), 1.0)
            top.set_yscale("log" if log else "linear")
            if not log:
                top.set_ylim(bottom=0)
            top.legend(title=f"{what} JSD = {jsd[name]:.4f}", fontsize="small", title_fontsize="small",
                       loc="upper right")
            top.tick_params(labelbottom=False)
            add_label(top)
            leave_room_for_legend(top, float(max(c.max(), a.max())) if len(c) else 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(c > 0, a / c, np.nan)
            bottom.stairs(ratio, edges, baseline=None)
            bottom.axhline(1.0, color="grey", linestyle="--", linewidth=1)
            bottom.set_ylim(0.8, 1.2)
            bottom.set_yticks([0.9, 1.0, 1.1])  # no label at the edges, where the histogram's 0 sits
            bottom.set_ylabel("adv./clean", fontsize="small")
            bottom.set_xlabel(name, fontsize="small")
            bottom.xaxis.set_major_locator(MaxNLocator(nbins=5))
            bottom.sharex(top)
        return savefig(fig, path)


def short_names(names: tuple[str, ...]) -> list[str]:
    """Tick labels: the prefix every name shares (up to an underscore) and a ``DeepCSV_`` prefix dropped."""
    parts = [n.split("_") for n in names]
    k = 0
    while len(parts) > 1 and all(len(p) > k + 1 and p[k] == parts[0][k] for p in parts):
        k += 1
    return ["_".join(p[k:]).removeprefix("DeepCSV_") for p in parts]


def plot_correlations(clean: np.ndarray, adv: np.ndarray, names: tuple[str, ...], path: Path) -> Path:
    """Fig. 2: Pearson matrices of the clean and adversarial sets and their difference (own colour scale).

    One experiment label for the figure, a caption over each panel, a labelled colour bar beside each; the
    feature names go under every panel and once on the left.
    """
    dfn, c_clean, c_adv, _ = correlation_change(clean, adv)
    diff = c_adv - c_clean
    by_name = len(names) <= 20
    with style_context():
        fig = Figure(figsize=(24, 11 if by_name else 8.5), layout="constrained")
        lim = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0
        panels = ((c_clean, "clean", 1.0, "RdBu_r", "Pearson correlation"),
                  (c_adv, "adversarial", 1.0, "RdBu_r", "Pearson correlation"),
                  (diff, f"adversarial - clean (dFN = {dfn:.4f})", lim or 1.0, "PuOr_r", "change in correlation"))
        ticks = short_names(names)
        for k, (mat, caption, vmax, cmap, scale) in enumerate(panels):
            ax = fig.add_subplot(1, 3, k + 1)
            image = ax.imshow(mat, vmin=-vmax, vmax=vmax, cmap=cmap, interpolation="nearest")
            bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
            bar.set_label(scale, fontsize="small")
            bar.ax.tick_params(labelsize="x-small")
            bar.formatter.set_powerlimits((-2, 2))  # a small difference scale as 1e-4 multiples, not 0.00075
            ax.set_title(caption, fontsize="small")
            if by_name:
                ax.set_xticks(range(len(names)), ticks, rotation=90, fontsize="x-small")
                ax.set_yticks(range(len(names)), ticks if k == 0 else [], fontsize="x-small")
            ax.set_xlabel("feature" if by_name else "feature index", fontsize="small")
            if k == 0 or not by_name:
                ax.set_ylabel("feature" if by_name else "feature index", fontsize="small")
        add_figure_label(fig)
        return savefig(fig, path)


def plot_history(history: list[dict[str, Any]], path: Path) -> Path:
    """Fooling ratio, mean JSD and dFN (and the distance-correlation dFN with use_disco) per iteration.

    The legend sits in room left free above the curves (both y axes raised alike), never on them.
    """
    it = [h["iteration"] for h in history]
    with style_context():
        fig, ax = new_figure(figsize=(10, 7.5))
        ax.plot(it, [h["fooling_ratio"] for h in history], marker="o", label="fooling ratio")
        ax.set_xlabel("Iteration")
        ax.set_ylabel("Fooling ratio")
        ax.set_ylim(0, 1)
        ax.set_yticks(np.linspace(0, 1, 6))
        right = ax.twinx()
        series = [("mean_jsd", "s", "C1", "mean JSD"), ("dfn", "^", "C2", "dFN")]
        if all("dfn_disco" in h for h in history):  # use_disco: the constrained distance-correlation change
            series.append(("dfn_disco", "v", "C3", "dFN (distance corr.)"))
        highest = 0.0
        for key, marker, colour, name in series:
            values = [h[key] for h in history]
            right.plot(it, values, marker=marker, color=colour, label=name)
            highest = max(highest, *values)
        right.set_ylabel("mean JSD, dFN")
        right.set_ylim(0, highest * 1.05 or 1.0)
        lines = ax.get_lines() + right.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], loc="upper left", ncols=2)
        add_label(ax)
        leave_room_for_legend(ax, 1.0, twins=[(right, right.get_ylim()[1])])
        return savefig(fig, path)


def plot_attack(clean: np.ndarray, adv: np.ndarray, names: tuple[str, ...], jsd: dict[str, float],
                num_bins: int, history: list[dict[str, Any]], out: Path, label: str) -> list[Path]:
    """All plots of one attacked set into ``out`` (inputs in original units)."""
    paths = [plot_histograms(clean, adv, names, jsd, num_bins, out / "histograms.png", label),
             plot_correlations(clean, adv, names, out / "correlations.png")]
    if history:
        paths.append(plot_history(history, out / "history.png"))
    return paths
