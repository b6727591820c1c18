"""The outputs of an evaluation: ``RUN/metrics.json`` (atomic) and ``RUN/plots/`` (published as one folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepadv.io import write_json
from hepadv.runs.layout import RunLayout
from hepadv.runs.outputs import publish_dir


def write_evaluation(out: Path, results: dict[str, Any], probs: dict[str, dict[str, np.ndarray]], labels: np.ndarray,
                     plots: bool = True) -> None:
    """``out/metrics.json`` and, with ``plots``, ``out/plots/*.png``."""
    layout = RunLayout(out)
    if plots:
        from hepadv.plotting.run import plot_run

        with publish_dir(layout.plots) as staging:
            plot_run(results, probs, labels, staging)
    write_json(layout.metrics, results)
