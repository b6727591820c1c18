"""Data/MC plots: stacked MC per flavour with data points and a Data/MC ratio panel; KL against epoch.

MC is normalised to the data integral of each histogram (thesis app. A.5: shapes are compared); error bars
are statistical (sqrt of the sum of squared weights), the grey band in the ratio is the MC statistical error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepadv.datamc.histograms import DATA_FLAVOUR, FLAVOURS, is_jet_control
from hepadv.plotting.style import FLAVOUR_COLOURS, add_label, colours, leave_room_for_legend, savefig, style_context

#: Model outputs and discriminators in the order of the thesis' fig. A.22 grid.
GRID = ("b", "bb", "c", "udsg", "BvsL", "BvsC", "CvsB", "CvsL")


def stacked(h: Any, variation: str, path: Path, title: str, xlabel: str, mc_flavours: tuple[str, ...] = FLAVOURS,
            ylabel: str = "Jets") -> Path | None:
    """One stacked Data/MC plot of a (kind, variation, flavour, value) histogram; None if a sample is empty.

    ``ylabel`` names what is counted: "Jets" for tagger outputs and jet variables, "Events" for event-level
    control variables. The legend says that MC is normalised to the data (shapes are compared).
    """
    from matplotlib.figure import Figure

    if "data" not in list(h.axes["kind"]) or "mc" not in list(h.axes["kind"]):
        return None
    has_var = "variation" in [a.name for a in h.axes]
    sel_mc: dict[str, Any] = {"kind": "mc"}
    sel_data: dict[str, Any] = {"kind": "data", "flavour": DATA_FLAVOUR}
    if has_var:
        if variation not in list(h.axes["variation"]):
            return None
        sel_mc["variation"] = variation
        sel_data["variation"] = "raw"
    mc = h[sel_mc]
    data = h[sel_data]
    d_val, d_var = data.values(), data.variances()
    parts = [(f, mc[{"flavour": f}].values(), mc[{"flavour": f}].variances()) for f in mc_flavours]
    mc_total = sum(p[1] for p in parts)
    mc_var = sum(p[2] for p in parts)
    if not (d_val.sum() > 0 and mc_total.sum() > 0):
        return None
    scale = d_val.sum() / mc_total.sum()
    edges = h.axes["value"].edges
    centres = 0.5 * (edges[1:] + edges[:-1])
    with style_context():
        fig = Figure(figsize=(9, 9), layout="constrained")
        fig.get_layout_engine().set(hspace=0.0, h_pad=0.0)  # the ratio panel sits right under the stack
        ax, rax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        bottom = np.zeros_like(mc_total)
        for f, val, _ in parts:
            ax.stairs(bottom + np.clip(val, 0, None) * scale, edges, baseline=bottom, fill=True,
                      color=FLAVOUR_COLOURS.get(f, "grey"), label=f"MC {f}")
            bottom = bottom + np.clip(val, 0, None) * scale
        ax.errorbar(centres, d_val, yerr=np.sqrt(np.clip(d_var, 0, None)), fmt="o", color="black", markersize=4,
                    label="Data")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, None)
        ax.legend(fontsize="small", ncols=3, title=f"{title}\nMC normalised to data", title_fontsize="small",
                  loc="upper right")
        add_label(ax, "Data/MC")
        leave_room_for_legend(ax, max(float(bottom.max()), float((d_val + np.sqrt(np.clip(d_var, 0, None))).max())))
        mc_scaled = mc_total * scale
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(mc_scaled > 0, d_val / mc_scaled, np.nan)
            r_err = np.where(mc_scaled > 0, np.sqrt(np.clip(d_var, 0, None)) / mc_scaled, np.nan)
            band = np.where(mc_scaled > 0, np.sqrt(np.clip(mc_var, 0, None)) * scale / mc_scaled, 0.0)
        rax.stairs(1 + band, edges, baseline=1 - band, fill=True, color="grey", alpha=0.4, label="MC stat.")
        rax.errorbar(centres, ratio, yerr=r_err, fmt="o", color="black", markersize=3)
        rax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        rax.set_ylim(0.5, 1.5)
        rax.set_yticks([0.75, 1.0, 1.25])  # no label at the edges, where the stack's 0 sits
        rax.set_ylabel("Data/MC")
        rax.set_xlabel(xlabel)
        return savefig(fig, path)


def plot_kl_vs_epoch(series: dict[str, Any], path: Path, title: str = "") -> Path | None:
    """Thesis fig. A.22: KL(data || MC) against epoch per output; one line per variant and MC variation,
    a band of +- its standard deviation and, dotted, the floor (expected KL for identical parents)."""
    from matplotlib.figure import Figure

    if not series:
        return None
    # the thesis draws the basic training solid and the adversarial one dashed: nominal-like variants first
    ordered = sorted(series.items(), key=lambda kv: ("nominal" not in kv[0], kv[0]))
    with style_context():
        fig = Figure(figsize=(24, 11), layout="constrained")
        axes = fig.subplots(2, 4).ravel()
        cycle = colours()
        styles = ["-", "--", ":", "-."]
        for ax, output in zip(axes, GRID, strict=True):
            for i, (variant, by_var) in enumerate(ordered):
                for j, (variation, by_out) in enumerate(by_var.items()):
                    pts = [p for p in by_out.get(output, []) if p["kl"] is not None]
                    if not pts:
                        continue
                    colour = cycle[j % len(cycle)]
                    e = np.array([p["epoch"] for p in pts])
                    k = np.array([p["kl"] for p in pts], dtype=float)
                    ax.plot(e, k, styles[i % len(styles)], marker="o", color=colour, label=f"{variant} {variation}")
                    std = np.array([np.nan if p.get("std") is None else p["std"] for p in pts], dtype=float)
                    if np.isfinite(std).any():
                        ax.fill_between(e, k - std, k + std, color=colour, alpha=0.2, linewidth=0)
                    floor = np.array([np.nan if p.get("floor") is None else p["floor"] for p in pts], dtype=float)
                    if np.isfinite(floor).any():
                        ax.plot(e, floor, ":", color=colour, linewidth=1)
            ax.set_title(output, fontsize="medium")
            ax.set_xlabel("epoch")
            ax.set_ylabel("KL(data || MC)")  # every panel has its own y scale
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            from matplotlib.lines import Line2D

            handles.append(Line2D([], [], linestyle=":", color="grey"))
            labels.append("floor")
            fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize="small")
        if title:
            fig.suptitle(f"{title} (bands: ± std; dotted: floor, the KL of identical parents)")
        return savefig(fig, path)


def plot_report(results: dict[str, Any], hist_objects: dict[str, Any], folder: Path) -> list[Path]:
    """Stacked plots for the best checkpoints and stored taggers (every output raw, the discriminators also
    under each MC distortion), control plots, and KL vs epoch."""
    written: list[Path] = []
    sel = results["selection"]
    for tagger, outputs in hist_objects["hists"].items():
        if "@e" in tagger:  # per-epoch checkpoints are summarised by the KL-vs-epoch figure
            continue
        for name, h in outputs.items():
            for variation in results["variations"] if name in GRID[4:] else ["raw"]:
                p = stacked(h, variation, folder / _file(tagger) / f"{_file(name)}_{_file(variation)}.png",
                            f"{sel}, {tagger}, MC {variation}", name)
                if p is not None:
                    written.append(p)
    for name, h in hist_objects["controls"].items():
        p = stacked(h, "raw", folder / "controls" / f"{name}.png", sel, h.axes["value"].label,
                    ylabel="Jets" if is_jet_control(name) else "Events")
        if p is not None:
            written.append(p)
    p = plot_kl_vs_epoch(results["kl_vs_epoch"], folder / "kl_vs_epoch.png", f"{sel}: KL(data || MC) vs epoch")
    if p is not None:
        written.append(p)
    return written


def _file(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._@-" else "_" for c in text)
