"""``hepadv plugins new``: write a ready-to-install plugin package for one component kind.

The package follows ``docs/plugins.md``: a light hook module (imported by every ``hepadv`` command),
the component class at module level in a submodule (imported only inside the hook, pickles to dask
workers), an entry point in the ``hepadv`` group, a hepadv version range, a passing test and a README.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

from hepadv.errors import HepadvError
from hepadv.scaffold.templates import KINDS, Kind, render

__all__ = ["KINDS", "PluginName", "ScaffoldError", "new_plugin", "plugin_name", "version_range"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


class ScaffoldError(HepadvError):
    """A plugin cannot be scaffolded: bad name, unknown kind, target exists, name taken."""


@dataclass(frozen=True)
class PluginName:
    """Every spelling of one plugin name, derived from what the user typed (``my-flip``, ``hepadv-my-flip``)."""

    component: str  # my_flip: the component's ``name``, the entry-point name, what cards use
    distribution: str  # hepadv-my-flip: what pip installs
    package: str  # hepadv_my_flip: the import package
    cls: str  # MyFlip
    command: str  # my-flip: the CLI command name (command plugins)


def plugin_name(raw: str) -> PluginName:
    """Validate ``raw`` and derive the names; ScaffoldError in one line otherwise."""
    short = re.sub(r"^hepadv[-_]", "", raw.strip())
    if not _NAME.match(short) or short == "hepadv":
        raise ScaffoldError(f"bad plugin name {raw!r}: expected lower-case letters, digits, '-' or '_', "
                            "starting with a letter (e.g. 'flip' or 'hepadv-flip')")
    component = short.replace("-", "_")
    cls = "".join(part.capitalize() for part in component.split("_"))
    if keyword.iskeyword(component):
        raise ScaffoldError(f"bad plugin name {raw!r}: {component!r} is a Python keyword")
    return PluginName(component, "hepadv-" + component.replace("_", "-"), "hepadv_" + component, cls,
                      component.replace("_", "-"))


def version_range(version: str) -> str:
    """``hepadv>=0.1,<0.2`` for 0.1.x (``>=1.2,<2`` from 1.0 on): fixes yes, the next breaking release no."""
    major, minor = (int(p) for p in re.findall(r"\d+", version)[:2])
    if major == 0:
        return f"hepadv>=0.{minor},<0.{minor + 1}"
    return f"hepadv>={major}.{minor},<{major + 1}"


def new_plugin(raw_name: str, kind: str, directory: Path, label_free: bool = False,
               taken_commands: set[str] | frozenset[str] = frozenset()) -> Path:
    """Write the package for ``kind`` into ``directory/<distribution>`` and return that path.

    ``taken_commands``: the CLI's command names (a command plugin may not reuse one).
    """
    from hepadv import __version__

    spec = _kind(kind)
    if label_free and spec.key != "attack":
        raise ScaffoldError(f"--label-free applies to --kind attack only, not {kind!r}")
    name = plugin_name(raw_name)
    target = Path(directory) / name.distribution
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another name or directory")
    _check_free(spec, name, taken_commands)
    files = render(spec, name, version_range(__version__), label_free)
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target


def _kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise ScaffoldError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    return KINDS[kind]


def _check_free(spec: Kind, name: PluginName, taken_commands: set[str] | frozenset[str]) -> None:
    """Refuse a name some installed plugin already registers (the new one could never load next to it)."""
    from importlib import metadata

    taken_ep = {ep.name for ep in metadata.entry_points(group="hepadv")}
    if name.component in taken_ep:
        raise ScaffoldError(f"an installed plugin already uses the entry point {name.component!r}; choose another name")
    if spec.registry_kind is not None:
        from hepadv.registry.manager import get_registry

        registry = get_registry(spec.registry_kind)
        if name.component in registry:
            raise ScaffoldError(f"{spec.registry_kind} {name.component!r} already exists; choose another name")
    if spec.key == "command" and name.command in taken_commands:
        raise ScaffoldError(f"command {name.command!r} already exists; choose another name")
