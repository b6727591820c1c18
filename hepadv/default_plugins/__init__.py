"""Built-in components, registered through the same hooks as third-party plugins.

Component classes are imported inside the hook bodies so that loading plugins stays cheap.
"""

DEFAULT_PLUGINS: tuple[str, ...] = (
    "hepadv.default_plugins.datasets",
    "hepadv.default_plugins.models",
    "hepadv.default_plugins.attacks",
    "hepadv.default_plugins.defences",
    "hepadv.default_plugins.selections",
    "hepadv.default_plugins.executors",
    "hepadv.cli.commands",  # the CLI registers its commands like any plugin; only hepadv.cli imports hepadv.cli
)
