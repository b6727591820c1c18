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
from hepadv.plotting.style import add_label, new_figure, savefig, style_context


def min_median_max(jsd: dict[str, float]) -> list[str]:
    """Feature names with the smallest, the median and the largest JSD (paper fig. 1)."""
    ordered = sorted(jsd, key=lambda k: (jsd[k], k))
    return [ordered[0], ordered[len(ordered) // 2], ordered[-1]]


def plot_histograms(clean: np.ndarray, adv: np.ndarray, names: tuple[str, ...], jsd: dict[str, float],
                    num_bins: int, path: Path, label: str) -> Path:
    """Fig. 1: three features, original units, clean (filled) vs adversarial (line), ratio below."""
    with style_context():
        fig = Figure(figsize=(21, 7.5))
        grid = fig.add_gridspec(2, 3, height_ratios=(3, 1), hspace=0.05, wspace=0.3)
        for col, (name, what) in enumerate(zip(min_median_max(jsd), ("minimal", "median", "maximal"), strict=True)):
            j = names.index(name)
            edges, c, a = histogram_pair(clean[:, j], adv[:, j], num_bins)
            c, a = c[1:-1], a[1:-1]  # under/overflow are counted in the JSD, not drawn
            top, bottom = fig.add_subplot(grid[0, col]), fig.add_subplot(grid[1, col])
            top.stairs(c, edges, fill=True, alpha=0.35, label="clean")
            top.stairs(a, edges, linewidth=1.5, label=label)
            top.set_ylabel("Events")
            top.set_yscale("log" if c.max() > 50 * max(np.median(c[c > 0]) if (c > 0).any() else 1, 1) else "linear")
            top.legend(title=f"{what} JSD = {jsd[name]:.4f}", fontsize="small", title_fontsize="small")
            top.tick_params(labelbottom=False)
            add_label(top)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(c > 0, a / c, np.nan)
            bottom.stairs(ratio, edges, baseline=None)
            bottom.axhline(1.0, color="grey", linestyle="--", linewidth=1)
            bottom.set_ylim(0.8, 1.2)
            bottom.set_ylabel("adv./clean", fontsize="small")
            bottom.set_xlabel(name, fontsize="small")
            bottom.sharex(top)
        return savefig(fig, path)


def plot_correlations(clean: np.ndarray, adv: np.ndarray, names: tuple[str, ...], path: Path) -> Path:
    """Fig. 2: Pearson matrices of the clean and adversarial sets and their difference (own colour scale)."""
    dfn, c_clean, c_adv, _ = correlation_change(clean, adv)
    diff = c_adv - c_clean
    with style_context():
        fig = Figure(figsize=(24, 8))
        lim = float(np.nanmax(np.abs(diff))) if np.isfinite(diff).any() else 1.0
        for k, (mat, title, vmax, cmap) in enumerate((
                (c_clean, "clean", 1.0, "RdBu_r"), (c_adv, "adversarial", 1.0, "RdBu_r"),
                (diff, f"adversarial - clean (dFN = {dfn:.4f})", lim or 1.0, "PuOr_r"))):
            ax = fig.add_subplot(1, 3, k + 1)
            image = ax.imshow(mat, vmin=-vmax, vmax=vmax, cmap=cmap, interpolation="nearest")
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
            ax.set_title(title, fontsize="medium", pad=28)
            if len(names) <= 20:
                ax.set_xticks(range(len(names)), names, rotation=90, fontsize="x-small")
                ax.set_yticks(range(len(names)), names, fontsize="x-small")
            else:
                ax.set_xlabel("feature index", fontsize="small")
                ax.set_ylabel("feature index", fontsize="small")
            add_label(ax)
        return savefig(fig, path)


def plot_history(history: list[dict[str, Any]], path: Path) -> Path:
    """Fooling ratio, mean JSD and dFN (and the distance-correlation dFN with use_disco) per iteration."""
    it = [h["iteration"] for h in history]
    with style_context():
        fig, ax = new_figure(figsize=(10, 7))
        ax.plot(it, [h["fooling_ratio"] for h in history], marker="o", label="fooling ratio")
        ax.set_xlabel("Iteration")
        ax.set_ylabel("Fooling ratio")
        ax.set_ylim(0, 1)
        right = ax.twinx()
        right.plot(it, [h["mean_jsd"] for h in history], marker="s", color="C1", label="mean JSD")
        right.plot(it, [h["dfn"] for h in history], marker="^", color="C2", label="dFN")
        if all("dfn_disco" in h for h in history):  # use_disco: the constrained distance-correlation change
            right.plot(it, [h["dfn_disco"] for h in history], marker="v", color="C3", label="dFN (distance corr.)")
        right.set_ylabel("mean JSD, dFN")
        lines = ax.get_lines() + right.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], loc="center right")
        add_label(ax)
        return savefig(fig, path)


def plot_attack(clean: np.ndarray, adv: np.ndarray, names: tuple[str, ...], jsd: dict[str, float],
                num_bins: int, history: list[dict[str, Any]], out: Path, label: str) -> list[Path]:
    """All plots of one attacked set into ``out`` (inputs in original units)."""
    paths = [plot_histograms(clean, adv, names, jsd, num_bins, out / "histograms.png", label),
             plot_correlations(clean, adv, names, out / "correlations.png")]
    if history:
        paths.append(plot_history(history, out / "history.png"))
    return paths
