"""Scale-factor maps in the CvsL x CvsB plane (thesis figs. A.20/A.21) and a nominal-versus-adversarial view.

Per tagger, ``sf_TAGGER.png``: rows light, c, b (the dy, wc, ttsemilep selections), the factors on the left
(diverging colours centred on 1), their statistical uncertainties on the right. ``sf_comparison.png``: per
flavour (rows) and tagger (columns), the deviation from 1 in standard deviations, (SF - 1) / sigma, which shows
at a glance where a tagger's simulation already agrees with data. Bins the fit flagged are hatched grey and
carry no number.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from hepadv.datamc.sffit import FIT, SF_FLAVOURS, SFResult
from hepadv.plotting.style import add_label, savefig, style_context

_ROW_LABEL = {"light": "light jets (DY+jets)", "c": "c jets (W+c)", "b": "b jets (semileptonic tt)"}
#: Up to this many bins per axis, every fitted bin is annotated with its value.
ANNOTATE_MAX = 10


def plot_scale_factors(fits: dict[str, SFResult], folder: Path) -> list[Path]:
    """One A.20/A.21-style figure per tagger and, with two or more taggers, ``sf_comparison.png``."""
    paths = [sf_maps(result, key, folder / f"sf_{_safe(key)}.png") for key, result in fits.items()]
    if fits:
        paths.append(deviation_maps(fits, folder / "sf_comparison.png"))
    return paths


def _mesh(ax: Any, result: SFResult, values: np.ndarray, flag: np.ndarray, fmt: str, **kwargs: Any) -> Any:
    """pcolormesh on the grid with flagged bins hatched and (small grids) annotated; returns the mesh."""
    x, y = np.asarray(result.grid.cvsl), np.asarray(result.grid.cvsb)
    ax.set_facecolor("#e6e6e6")  # flagged bins (SF = 1, not fitted) show the hatched grey background
    ax.patch.set_hatch("//")
    ax.patch.set_edgecolor("#bdbdbd")
    mesh = ax.pcolormesh(x, y, np.ma.masked_where(flag != FIT, values).T, **kwargs)
    if max(result.grid.shape) <= ANNOTATE_MAX:
        cx, cy = 0.5 * (x[1:] + x[:-1]), 0.5 * (y[1:] + y[:-1])
        for i, j in zip(*np.nonzero(flag == FIT), strict=True):
            r, g, b, _ = mesh.cmap(mesh.norm(values[i, j]))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # white text on dark cells
            ax.text(cx[i], cy[j], format(values[i, j], fmt), ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    ax.set_xlabel("CvsL")
    ax.set_ylabel("CvsB")
    return mesh


def sf_maps(result: SFResult, tagger: str, path: Path) -> Path:
    """Thesis fig. A.20/A.21: SF (left) and uncertainty (right) per flavour (rows)."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    fitted = np.concatenate([result.sf[f][result.flag[f] == FIT] for f in SF_FLAVOURS])
    # colour ranges from the bulk (90 % quantiles), so a few sparse outlying bins do not wash the maps out
    spread = float(np.clip(np.quantile(np.abs(fitted - 1), 0.9), 0.05, 1.0)) if fitted.size else 0.05
    with style_context():
        fig = Figure(figsize=(16, 21), layout="constrained")
        axes = fig.subplots(len(SF_FLAVOURS), 2)
        for row, f in zip(axes, SF_FLAVOURS, strict=True):
            m = _mesh(row[0], result, result.sf[f], result.flag[f], ".2f", cmap="RdBu_r",
                      norm=TwoSlopeNorm(vcenter=1.0, vmin=1 - spread, vmax=1 + spread))
            fig.colorbar(m, ax=row[0], label=f"SF, {_ROW_LABEL[f]}", extend="both")
            unc = result.unc[f][result.flag[f] == FIT]
            m = _mesh(row[1], result, result.unc[f], result.flag[f], ".2f", cmap="viridis", vmin=0,
                      vmax=float(np.quantile(unc, 0.9)) if unc.size else 1.0)
            fig.colorbar(m, ax=row[1], label=f"stat. uncertainty, {f}", extend="max")
        add_label(axes[0, 0], "Toy data")
        fig.suptitle(f"{tagger}: CvsL x CvsB scale factors (grey hatched: not fitted, SF = 1)")
        return savefig(fig, path)


def deviation_maps(fits: dict[str, SFResult], path: Path, clip: float = 5.0) -> Path:
    """(SF - 1) / sigma per flavour (rows) and tagger (columns), clipped at +-``clip``."""
    from matplotlib.figure import Figure

    keys = list(fits)
    with style_context():
        fig = Figure(figsize=(8 * len(keys), 21))
        axes = np.asarray(fig.subplots(len(SF_FLAVOURS), len(keys), squeeze=False,
                                       gridspec_kw={"hspace": 0.3, "wspace": 0.3}))
        for c, key in enumerate(keys):
            r = fits[key]
            for row, f in enumerate(SF_FLAVOURS):
                with np.errstate(divide="ignore", invalid="ignore"):
                    pull = np.where(r.unc[f] > 0, (r.sf[f] - 1) / r.unc[f], 0.0)
                m = _mesh(axes[row, c], r, np.clip(pull, -clip, clip), r.flag[f], ".1f", cmap="RdBu_r",
                          vmin=-clip, vmax=clip)
                fig.colorbar(m, ax=axes[row, c], label="(SF - 1) / sigma")
                axes[row, c].set_title(f"{key}, {f} jets", loc="right", fontsize="small")
        fig.suptitle("hepadv toy data: deviation of the scale factors from 1", y=0.92)
        return savefig(fig, path, bbox_inches="tight")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", text)
