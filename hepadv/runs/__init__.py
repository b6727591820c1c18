"""Runs as artifacts: the folder layout, trained models, the run record, outputs, locks, train-if-missing.

``hepadv.runs`` is the only package that knows where a run keeps what (``layout``); everything else asks it.
"""

from hepadv.ids import check_name
from hepadv.runs.layout import CONFIG_FILE, RunLayout
from hepadv.runs.trained import (
    PortableModel,
    Run,
    TrainedModel,
    check_spec,
    checkpoint_path,
    load_trained,
    open_run,
    variants,
)

__all__ = [
    "CONFIG_FILE",
    "PortableModel",
    "Run",
    "RunLayout",
    "TrainedModel",
    "check_name",
    "check_spec",
    "checkpoint_path",
    "load_trained",
    "open_run",
    "variants",
]
