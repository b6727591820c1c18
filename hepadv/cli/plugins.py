"""``hepadv plugins``: which plugins loaded, their versions and the components each registers."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins_command)


def plugins_command() -> None:
    """List plugins, their versions and the components they register."""
    from rich.table import Table

    from hepadv.attacks.dataset_level import attack_kind
    from hepadv.cli.console import console
    from hepadv.registry.manager import get_registry, plugin_infos

    table = Table(title="hepadv plugins")
    for column in ("plugin", "version", "source", "components"):
        table.add_column(column)
    failed = 0
    for info in plugin_infos():
        if info.error:
            failed += 1
            table.add_row(info.name, info.version, info.source, f"[red]failed to load: {info.error}[/red]")
            continue
        shown = {kind: names if kind != "attack" else  # per-event or dataset-level
                 [f"{n} ({attack_kind(get_registry('attack').get(n))})" for n in names]
                 for kind, names in info.components.items()}
        parts = [f"{kind}: {', '.join(names)}" for kind, names in sorted(shown.items())]
        table.add_row(info.name, info.version, info.source, "\n".join(parts) or "-")
    console.print(table)
    if failed:
        console.print(f"[yellow]{failed} plugin(s) failed to load; other commands still work.[/yellow]")
