"""Built-in CLI commands, registered through the ``register_commands`` hook like a plugin's (listed in
``hepadv.default_plugins.DEFAULT_PLUGINS``). Each command module imports its heavy dependencies inside the command."""

from typing import Any

from hepadv.registry.hookspecs import hookimpl


@hookimpl
def register_commands(app: Any) -> None:
    from hepadv.cli import attack, cards, datamc, defend, evaluate, export, plugins, report, sf, train

    plugins.register(app)
    cards.register(app)
    train.register(app)
    evaluate.register(app)
    attack.register(app)
    datamc.register(app)
    defend.register(app)
    report.register(app)
    export.register(app)
    sf.register(app)
