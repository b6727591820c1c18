"""Plots of the defence pipelines (seed 004 figs. 10, 12, 14, 16-21), mplhep style."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepadv.plotting.style import add_label, new_figure, savefig, style_context

GREY, RED, BLUE, YELLOW = "0.55", "#e42536", "#5790fc", "#f89c20"


def per_run_bars(path: Path, series: dict[str, tuple[np.ndarray, np.ndarray | None, str]], ylabel: str,
                 title: str | None = None) -> Path:
    """Grouped bars per run (figs. 12, 14): name -> (values per run, errors or None, colour); dashed means."""
    with style_context():
        fig, ax = new_figure()
        n = len(series)
        width = 0.8 / n
        for k, (name, (values, errors, colour)) in enumerate(series.items()):
            runs = np.arange(len(values))
            ax.bar(runs + (k - (n - 1) / 2) * width, values, width, yerr=errors, color=colour, label=name, capsize=3)
            ax.axhline(float(np.nanmean(values)), color=colour, linestyle="--", linewidth=1.5)
        ax.set_xlabel("run")
        ax.set_ylabel(ylabel)
        ax.set_xticks(np.arange(len(next(iter(series.values()))[0])))
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
        ax.legend(title=title)
        add_label(ax)
        return savefig(fig, path)


def matrix(path: Path, values: np.ndarray, label: str) -> Path:
    """Heat map of a grey-box matrix: row = scoring model i, column = crafting run j (diagonal white-box)."""
    with style_context():
        fig, ax = new_figure()
        im = ax.imshow(values, cmap="viridis", vmin=0, vmax=max(float(np.nanmax(values)), 1e-9))
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w", fontsize="small")
        ax.set_xlabel("adversaries crafted on run j")
        ax.set_ylabel("scored by model (and detector) i")
        ax.set_xticks(range(values.shape[1]))
        ax.set_yticks(range(values.shape[0]))
        fig.colorbar(im, ax=ax, label=label)
        add_label(ax)
        return savefig(fig, path)


def efficiency_vs_threshold(path: Path, thresholds: np.ndarray,
                            curves: dict[str, tuple[np.ndarray, np.ndarray, str]]) -> Path:
    """Fig. 16: detector efficiency against its threshold, mean over runs with a +-1 std band."""
    with style_context():
        fig, ax = new_figure()
        for name, (mean, std, colour) in curves.items():
            ax.plot(thresholds, mean, color=colour, label=name)
            ax.fill_between(thresholds, mean - std, mean + std, color=colour, alpha=0.25, linewidth=0)
        ax.set_xlabel("detector threshold (score >= t: clean)")
        ax.set_ylabel("detector efficiency")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.05, 1.05)  # the y axis' 0 clear of the x axis' 0
        ax.legend()
        add_label(ax)
        return savefig(fig, path)


def detector_rocs(path: Path, rocs: list[tuple[np.ndarray, np.ndarray, float]]) -> Path:
    """ROC of each run's detector: clean efficiency against the fraction of fooling adversaries let through."""
    with style_context():
        fig, ax = new_figure()
        for i, (eff_clean, pass_adv, area) in enumerate(rocs):
            ax.plot(pass_adv, eff_clean, label=f"run {i}: AUC {area:.3f}")
        ax.plot([0, 1], [0, 1], color=GREY, linestyle=":")
        ax.set_xlabel("fooling adversaries let through")
        ax.set_ylabel("clean events let through")
        ax.legend()
        add_label(ax)
        return savefig(fig, path)


def auc_runs(path: Path, base: np.ndarray, defended: np.ndarray, defended_label: str) -> Path:
    """Fig. 10: clean-test AUC per run, base (grey) and defended (red), dashed means."""
    with style_context():
        fig, ax = new_figure()
        runs = np.arange(len(base))
        for values, colour, name in ((base, GREY, "base model"), (defended, RED, defended_label)):
            ax.plot(runs, values, "o", color=colour, label=name, markersize=9)
            ax.axhline(float(np.mean(values)), color=colour, linestyle="--")
        ax.set_xlabel("run")
        ax.set_ylabel("AUC (clean test)")
        ax.set_xticks(runs)
        ax.legend()
        add_label(ax)
        return savefig(fig, path)


def curve(path: Path, x: np.ndarray, mean: np.ndarray, std: np.ndarray, xlabel: str, ylabel: str,
          baseline: float | None = None) -> Path:
    """A mean +- std curve (grey-box fooling ratio per iteration), with an optional baseline line."""
    with style_context():
        fig, ax = new_figure()
        ax.errorbar(x, mean, yerr=std, color=RED, marker="o", capsize=3, label="adversarially trained")
        if baseline is not None:
            ax.axhline(baseline, color=GREY, linestyle="--", label="base model")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_xticks(x)
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
        ax.legend()
        add_label(ax)
        return savefig(fig, path)


def point_cloud(path: Path, sets: list[tuple[np.ndarray, str, str]], names: tuple[str, str],
                max_points: int = 2000) -> Path:
    """Figs. 17, 19-21: sub-sampled 2-D points of each set (label, colour)."""
    with style_context():
        fig, ax = new_figure()
        for points, name, colour in sets:
            pts = points[:max_points]
            ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.5, color=colour, label=f"{name} ({len(points)})")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_aspect("equal", adjustable="datalim")
        # under the axes: a point cloud fills its axes, and a legend inside would hide some of its points
        fig.legend(markerscale=4, loc="outside lower center", ncols=len(sets), fontsize="small")
        add_label(ax)
        return savefig(fig, path)


def marginals(path: Path, sets: list[tuple[np.ndarray, str, str]], names: tuple[str, str], bins: int = 50) -> Path:
    """Fig. 18: normalised 1-D histograms of both features for each set."""
    with style_context():
        from matplotlib.figure import Figure

        fig = Figure(figsize=(16, 7.5), layout="constrained")
        axes = fig.subplots(1, 2)
        for k, ax in enumerate(axes):
            lo = min(float(p[:, k].min()) for p, _, _ in sets if len(p))
            hi = max(float(p[:, k].max()) for p, _, _ in sets if len(p))
            edges = np.linspace(lo, hi, bins + 1)
            for points, name, colour in sets:
                if len(points):
                    ax.hist(points[:, k], bins=edges, density=True, histtype="step", color=colour, label=name,
                            linewidth=2)
            ax.set_xlabel(names[k])
            ax.set_ylabel("density")
            add_label(ax)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(sets),
                   fontsize="small")
        return savefig(fig, path)
