"""Hook specifications: one per component kind, each handing the plugin a ``register`` callback.

Plugins may accept a subset of a spec's arguments, so specs can grow new arguments later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "hepadv"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[type], None]


@hookspec
def register_datasets(register: Register) -> None:
    """Register Dataset classes: ``register(MyDataset)``."""


@hookspec
def register_models(register: Register) -> None:
    """Register Model classes (torch.nn.Module subclasses with ``name`` and ``Params``)."""


@hookspec
def register_attacks(register: Register) -> None:
    """Register Attack classes."""


@hookspec
def register_defences(register: Register) -> None:
    """Register Defence classes (training strategies and filters)."""


@hookspec
def register_selections(register: Register) -> None:
    """Register Data/MC event selections."""


@hookspec
def register_executors(register: Register) -> None:
    """Register executors (iterative, futures, dask, jobqueue)."""


@hookspec
def register_commands(app: Any) -> None:
    """Add Typer commands or sub-apps to the ``hepadv`` CLI."""
