"""Reporting an evaluation: ``metrics.json`` (written atomically) and the plots beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepadv.io import write_json


def write_report(out: Path, results: dict[str, Any], probs: dict[str, dict[str, np.ndarray]], labels: np.ndarray,
                 plots: bool = True) -> None:
    """``out/metrics.json`` and, with ``plots``, ``out/plots/*.png``."""
    write_json(out / "metrics.json", results)
    if plots:
        from hepadv.plotting.run import plot_run

        plot_run(results, probs, labels, out / "plots")
