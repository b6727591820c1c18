"""The plugin manager: built-ins and entry-point plugins, loaded lazily on first use.

Built-ins in ``hepadv.default_plugins`` go through the same hooks as third-party packages.
``HEPADV_LOAD_PLUGINS`` restricts which entry points load (comma-separated names; empty: none).
A plugin that fails to import is recorded and reported by ``hepadv plugins``; other commands go on.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy
from pydantic import BaseModel

from hepadv.errors import RegistryError, UnknownComponentError
from hepadv.plugin_api import PLUGIN_API
from hepadv.registry import hookspecs
from hepadv.registry.components import Registry

ENTRY_POINT_GROUP = "hepadv"

#: component kind -> hook name
COMPONENT_KINDS: dict[str, str] = {
    "dataset": "register_datasets",
    "model": "register_models",
    "attack": "register_attacks",
    "defence": "register_defences",
    "selection": "register_selections",
    "executor": "register_executors",
}


@dataclass
class PluginInfo:
    """What ``hepadv plugins`` shows for one plugin."""

    name: str
    version: str
    source: str  # "built-in", "entry point" or "registered"
    components: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # deprecations: still working, to be updated


@dataclass
class _State:
    pm: pluggy.PluginManager
    infos: dict[str, PluginInfo]
    registries: dict[str, Registry[Any]] | None = None


_state: _State | None = None
_extra_plugins: list[tuple[object, str]] = []


def register_plugin(plugin: object, name: str) -> None:
    """Register a plugin object (module or instance with hookimpls) by hand, e.g. from a test or notebook."""
    _extra_plugins.append((plugin, name))
    reset()


def unregister_plugin(name: str) -> None:
    _extra_plugins[:] = [(p, n) for p, n in _extra_plugins if n != name]
    reset()


def reset() -> None:
    """Forget everything loaded; the next lookup loads plugins again."""
    global _state
    _state = None


def _allowed_entry_points() -> set[str] | None:
    raw = os.environ.get("HEPADV_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _dist_version(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else "?"


def _load() -> _State:
    from hepadv import __version__
    from hepadv.default_plugins import DEFAULT_PLUGINS

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}

    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        short = "hepadv." + module_name.rsplit(".", 1)[-1]
        pm.register(module, name=short)
        infos[short] = PluginInfo(short, __version__, "built-in")

    allowed = _allowed_entry_points()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        version = _dist_version(ep)
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not break other commands
            infos[ep.name] = PluginInfo(ep.name, version, "entry point", error=f"{type(exc).__name__}: {exc}")
            continue
        infos[ep.name] = PluginInfo(ep.name, version, "entry point")

    for plugin, name in _extra_plugins:
        pm.register(plugin, name=name)
        infos[name] = PluginInfo(name, "-", "registered")

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        hooks = ", ".join(sorted(hookspecs_names()))
        what = str(exc).split(" in plugin ")[0]
        raise RegistryError(f"plugin {name!r}: {what}; known hooks: {hooks}") from None
    return _State(pm, infos)


def _build_registries(state: _State) -> dict[str, Registry[Any]]:
    """Call every ``register_*`` hook; components are imported here, not when plugins load."""
    pm, infos = state.pm, state.infos
    registries: dict[str, Registry[Any]] = {}
    for kind, hook_name in COMPONENT_KINDS.items():
        registry: Registry[Any] = Registry(kind)
        caller = getattr(pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # registration order
            plugin_name = impl.plugin_name

            def register(component: type, _plugin: str = plugin_name, _registry: Registry[Any] = registry,
                         _kind: str = kind) -> None:
                problem = api_problem(_kind, component)
                if problem is not None:
                    raise PluginRefused(f"plugin {_plugin!r} refused (plugin API {PLUGIN_API}): {problem}")
                infos[_plugin].notes += [n for n in api_notes(component) if n not in infos[_plugin].notes]
                _registry.add(component, _plugin)

            kwargs = {"register": register} if "register" in impl.argnames else {}
            if infos[plugin_name].source == "built-in":
                impl.function(**kwargs)
                continue
            try:
                impl.function(**kwargs)
            except PluginRefused as exc:  # written for an API this hepadv no longer runs: reported, not run
                infos[plugin_name].error = str(exc)
            except RegistryError:
                raise
            except Exception as exc:  # a broken third-party plugin is reported, the rest keeps working
                infos[plugin_name].error = f"{hook_name} raised {type(exc).__name__}: {exc}"
        for entry in registry.entries():
            infos[entry.plugin].components.setdefault(kind, []).append(entry.name)
        registries[kind] = registry
    return registries


class PluginRefused(RegistryError):
    """A component written against a plugin API this hepadv cannot run."""


#: Base class every component of a kind must derive from, for the kinds whose contract is dispatched on.
REQUIRED_BASES: dict[str, str] = {"attack": "hepadv.attacks.base:Attack"}


def api_problem(kind: str, component: type) -> str | None:
    """Why ``component`` cannot run under this plugin API (None: it can)."""
    base = REQUIRED_BASES.get(kind)
    name = getattr(component, "name", getattr(component, "__name__", repr(component)))
    if base is not None:
        module, _, cls_name = base.partition(":")
        required = getattr(importlib.import_module(module), cls_name)
        if not (isinstance(component, type) and issubclass(component, required)):
            return f"{kind} {name!r} does not subclass {module}.{cls_name}"
    check = getattr(component, "api_problem", None)
    return check() if callable(check) else None


def api_notes(component: type) -> list[str]:
    notes = getattr(component, "api_notes", None)
    return list(notes()) if callable(notes) else []


def hookspecs_names() -> list[str]:
    return [n for n in dir(hookspecs) if n.startswith("register_")]


def _get_state() -> _State:
    global _state
    if _state is None:
        _state = _load()
    return _state


def get_registry(kind: str) -> Registry[Any]:
    if kind not in COMPONENT_KINDS:
        raise KeyError(f"no component kind {kind!r}; kinds: {', '.join(COMPONENT_KINDS)}")
    return _registries()[kind]


def lookup(kind: str, name: str) -> Any:
    """The component ``name`` of ``kind``; an unknown name also mentions plugins that failed to load."""
    registry = get_registry(kind)
    if name in registry:
        return registry.get(name)
    failed = [i for i in _get_state().infos.values() if i.error]
    hint = "; ".join(f"plugin {i.name!r} failed to load ({i.error})" for i in failed)
    raise UnknownComponentError(registry.unknown_message(name) + (f"; note: {hint}" if hint else ""))


def build(kind: str, spec: Any, params: Any = None) -> Any:
    """An instance of the component a card names: ``spec`` is a ``ComponentSpec`` (its validated params are used
    unless ``params`` is given) or a name. The one place a component is made from a card."""
    name = spec if isinstance(spec, str) else spec.name
    cls = lookup(kind, name)
    if params is None and not isinstance(spec, str):
        params = spec._validated if spec._validated is not None else spec.params
    return cls(params if isinstance(params, BaseModel) else cls.parse_params(params or {}))


def _registries() -> dict[str, Registry[Any]]:
    state = _get_state()
    if state.registries is None:
        state.registries = _build_registries(state)
    return state.registries


def plugin_infos() -> list[PluginInfo]:
    """Every plugin with its version and components (builds the registries)."""
    _registries()
    return list(_get_state().infos.values())


def add_commands(app: Any) -> None:
    """Let every plugin add its CLI commands to ``app``; ``hepadv plugins`` then lists them per plugin.

    A third-party hook that raises is reported like a plugin that fails to import; the other commands stay.
    """
    state = _get_state()
    for impl in reversed(state.pm.hook.register_commands.get_hookimpls()):  # registration order
        info = state.infos[impl.plugin_name]
        before = _command_names(app)
        try:
            impl.function(app=app)
        except Exception as exc:
            if info.source == "built-in":
                raise
            info.error = f"register_commands raised {type(exc).__name__}: {exc}"
            continue
        added = [n for n in _command_names(app) if n not in before]
        if added:
            info.components["command"] = added


def _command_names(app: Any) -> list[str]:
    """Names of the commands and sub-apps added to a Typer app so far."""
    names = [c.name or getattr(c.callback, "__name__", "?").replace("_", "-") for c in app.registered_commands]
    return names + [g.name or "?" for g in app.registered_groups]
