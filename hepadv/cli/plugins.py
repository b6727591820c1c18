"""``hepadv plugins [list|new]``: which plugins loaded and what they register; scaffold a new plugin."""

from __future__ import annotations

from pathlib import Path

import typer

plugins_app = typer.Typer(help="List plugins (the default) or write a new plugin package.")


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")


@plugins_app.callback(invoke_without_command=True)
def _plugins_root(ctx: typer.Context) -> None:
    """List plugins, their versions and the components they register (``hepadv plugins list``)."""
    if ctx.invoked_subcommand is None:
        list_command()


@plugins_app.command("list")
def list_command() -> None:
    """List plugins, their versions and the components they register."""
    from rich.markup import escape
    from rich.table import Table

    from hepadv.attacks.base import attack_kind
    from hepadv.cli.console import console
    from hepadv.plugin_api import PLUGIN_API
    from hepadv.registry.manager import get_registry, plugin_infos

    table = Table(title=f"hepadv plugins (plugin API {PLUGIN_API})")
    for column in ("plugin", "version", "source", "components"):
        table.add_column(column)
    failed = 0
    for info in plugin_infos():
        if info.error:
            failed += 1
            table.add_row(info.name, info.version, info.source, f"[red]failed to load: {escape(info.error)}[/red]")
            continue
        shown = {kind: names if kind != "attack" else  # per-event or dataset-level
                 [f"{n} ({attack_kind(get_registry('attack').get(n))})" for n in names]
                 for kind, names in info.components.items()}
        parts = [f"{kind}: {', '.join(names)}" for kind, names in sorted(shown.items())]
        parts += [f"[yellow]deprecated: {escape(note)}[/yellow]" for note in info.notes]
        table.add_row(info.name, info.version, info.source, "\n".join(parts) or "-")
    console.print(table)
    if failed:
        console.print(f"[yellow]{failed} plugin(s) failed to load; other commands still work.[/yellow]")


def _kinds() -> str:
    from hepadv.scaffold.templates import KINDS

    return ", ".join(KINDS)


@plugins_app.command("new")
def new_command(
    name: str = typer.Argument(..., metavar="NAME", show_default=False,
                               help="Plugin name, e.g. 'flip' (package hepadv-flip, component 'flip')."),
    kind: str = typer.Option(..., "--kind", "-k", metavar="KIND", help=f"Component kind: {_kinds()}."),
    label_free: bool = typer.Option(False, "--label-free", help="Attack kind: a label-free random distortion "
                                                                "instead of a gradient attack."),
    directory: Path = typer.Option(Path("."), "--directory", "-d", metavar="DIR",
                                   help="Where to create the package folder."),
) -> None:
    """Write a ready-to-install plugin package: pyproject with the entry point, hook, component, test, README."""
    import typer.main

    from hepadv.cli.console import console
    from hepadv.cli.main import build_app
    from hepadv.scaffold import new_plugin

    taken = set(typer.main.get_command(build_app()).commands)  # type: ignore[attr-defined]
    target = new_plugin(name, kind, directory, label_free=label_free, taken_commands=taken)
    console.print(f"[green]created[/green] {target}", highlight=False, soft_wrap=True)
    console.print(f"next: pip install -e {target} && hepadv plugins && (cd {target} && pytest)", highlight=False,
                  soft_wrap=True)
