"""Plugin registry: hook specs, the plugin manager and per-kind component registries."""

from hepadv.registry.hookspecs import hookimpl, hookspec
from hepadv.registry.manager import COMPONENT_KINDS, PluginInfo, get_registry, plugin_infos, reset

__all__ = ["COMPONENT_KINDS", "PluginInfo", "get_registry", "hookimpl", "hookspec", "plugin_infos", "reset"]
