"""hepadv: adversarial robustness of jet taggers and its effect on Data/MC agreement.

Public API (lazy: nothing heavy is imported here)::

    from hepadv import hookimpl, get_attack, get_model, get_dataset, get_defence, PLUGIN_API

``PLUGIN_API`` is the version of the contract third-party plugins rely on (``hepadv.plugin_api``).
"""

from __future__ import annotations

from typing import Any

from hepadv.plugin_api import PLUGIN_API
from hepadv.registry.hookspecs import hookimpl

__version__ = "0.2.0"

__all__ = [
    "PLUGIN_API",
    "__version__",
    "get_attack",
    "get_dataset",
    "get_defence",
    "get_executor",
    "get_model",
    "get_selection",
    "hookimpl",
]


def _get(kind: str, name: str) -> Any:
    from hepadv.registry.manager import lookup

    return lookup(kind, name)


def get_dataset(name: str) -> Any:
    """The Dataset class registered as ``name``."""
    return _get("dataset", name)


def get_model(name: str) -> Any:
    """The Model class registered as ``name``."""
    return _get("model", name)


def get_attack(name: str) -> Any:
    """The Attack class registered as ``name``."""
    return _get("attack", name)


def get_defence(name: str) -> Any:
    """The Defence class registered as ``name``."""
    return _get("defence", name)


def get_selection(name: str) -> Any:
    """The Data/MC selection registered as ``name``."""
    return _get("selection", name)


def get_executor(name: str) -> Any:
    """The executor registered as ``name``."""
    return _get("executor", name)
