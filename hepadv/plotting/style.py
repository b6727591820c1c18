"""One plotting style for the whole package, and an atomic ``savefig``.

The look follows mplhep's CMS style, but the label says "hepadv Simulation": these plots are not CMS
results and must not claim to be. Figures are ``matplotlib.figure.Figure`` objects built without pyplot,
so nothing depends on a display or on pyplot's global figure list.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

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
    """A pyplot-free figure with one axes; call inside ``style_context`` to pick up the style.

    Constrained layout by default: the margins grow with the tick labels (five-digit counts, long feature
    names), so no axis label is clipped at the figure edge.
    """
    kwargs.setdefault("layout", "constrained")
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
        add_rlabel(ax, rlabel)


def add_figure_label(fig: Figure, text: str = "Simulation") -> None:
    """The experiment header once for a figure of several panels, top left (constrained layout keeps room)."""
    from matplotlib.text import Annotation

    head = fig.suptitle("hepadv", x=0.01, ha="left", fontweight="bold", fontsize="medium")
    fig.add_artist(Annotation(f" {text}", xy=(1.0, 0.0), xycoords=head, ha="left", va="bottom", fontstyle="italic"))


def add_rlabel(ax: Axes, text: str) -> None:
    """A panel's own caption above its top-right corner (the experiment label sits top-left)."""
    ax.text(1.0, 1.01, text, transform=ax.transAxes, ha="right", va="bottom", fontsize="medium")


def leave_room_for_legend(ax: Axes, top: float, gap: float = 0.04,
                          twins: Sequence[tuple[Axes, float]] = ()) -> None:
    """Raise the y range so that data up to ``top`` stay below the legend at the top of ``ax``.

    Measured, not guessed: the legend's height (title, rows, columns) is taken from the laid-out figure, so
    a longer title or more entries get more room, and the data are never drawn under the legend. ``twins``
    (a ``twinx`` axes and the top of its data) are raised by the same share.
    """
    legend = ax.get_legend()
    fig = ax.get_figure()
    if legend is None or fig is None:
        return
    fig.draw_without_rendering()  # runs the layout engine: axes and legend at their final size
    share = legend.get_window_extent().height / max(ax.get_window_extent().height, 1.0)
    free = max(1.0 - share - gap, 0.2)  # fraction of the height the data may use
    for axes, highest in ((ax, top), *twins):
        if not np.isfinite(highest):
            continue
        low, _ = axes.get_ylim()
        if axes.get_yscale() == "log":
            highest = max(highest, low * 10)
            axes.set_ylim(low, low * (highest / low) ** (1.0 / free))
        else:
            axes.set_ylim(low, low + (highest - low) / free)


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
