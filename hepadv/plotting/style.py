"""One plotting style for the whole package, and an atomic ``savefig``.

The look follows mplhep's CMS style, but the label says "hepadv Simulation": these plots are not CMS
results and must not claim to be. Figures are ``matplotlib.figure.Figure`` objects built without pyplot,
so nothing depends on a display or on pyplot's global figure list.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

# Batch jobs have no display: default to Agg unless the user already chose a backend (pyplot in use,
# MPLBACKEND set, e.g. by Jupyter).
if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")

import matplotlib.style
import mplhep
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepadv.io import atomic_path

#: mplhep's CMS rcParams, used as the base look of every hepadv plot.
STYLE: dict[str, Any] = dict(mplhep.style.CMS)

#: Fixed colours per flavour so the same class looks the same in every plot.
FLAVOUR_COLOURS: dict[str, str] = {"b": "#e42536", "bb": "#964a8b", "c": "#f89c20", "udsg": "#5790fc"}

_style_applied = False


def use_style() -> None:
    """Apply the hepadv style to the global rcParams, once (for interactive use and notebooks)."""
    global _style_applied
    if not _style_applied:
        matplotlib.style.use(STYLE)
        _style_applied = True


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """The hepadv style for the duration of one plot, leaving the caller's rcParams untouched."""
    with matplotlib.style.context(STYLE):
        yield


def new_figure(**kwargs: Any) -> tuple[Figure, Axes]:
    """A pyplot-free figure with one axes; call inside ``style_context`` to pick up the style."""
    fig = Figure(**kwargs)
    return fig, fig.add_subplot()


def colours() -> list[str]:
    """The style's colour cycle, for giving each model or series its own colour."""
    return list(matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"]))


def add_label(ax: Axes, text: str = "Simulation", rlabel: str | None = None) -> None:
    """Experiment-style header: bold "hepadv" plus ``text`` above the top-left corner of ``ax``."""
    head = ax.text(0.0, 1.01, "hepadv", transform=ax.transAxes, ha="left", va="bottom", fontweight="bold")
    # Anchored to the end of "hepadv" itself, so the gap does not depend on font or figure size.
    ax.annotate(f" {text}", xy=(1.0, 0.0), xycoords=head, ha="left", va="bottom", fontstyle="italic")
    if rlabel:
        ax.text(1.0, 1.01, rlabel, transform=ax.transAxes, ha="right", va="bottom", fontsize="medium")


def savefig(fig: Figure, path: str | os.PathLike[str], close: bool = True, **kwargs: Any) -> Path:
    """Write ``fig`` to ``path`` atomically: render to a temporary file beside it, then ``os.replace``.

    A crash or a concurrent reader never sees a truncated image, and a failed render leaves no temporary
    file behind. The temporary file keeps the suffix so matplotlib picks the same format.
    """
    path = Path(path)
    try:
        with atomic_path(path, suffix=path.suffix) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or None, **kwargs)
    finally:
        if close:
            _close(fig)
    return path


def _close(fig: Figure) -> None:
    """Release the figure; only pyplot keeps references, so only ask pyplot if it is loaded."""
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close(fig)
