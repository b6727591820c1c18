"""``hepadv cards validate|show``: check cards without running them."""

from __future__ import annotations

from pathlib import Path

import typer

from hepadv.cli.options import SetOption

cards_app = typer.Typer(help="Validate and inspect run cards.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cards_app, name="cards")


@cards_app.command("validate")
def validate(files: list[Path] = typer.Argument(..., help="Card files to check."),
             set_: list[str] = SetOption) -> None:
    """Validate cards of every kind (run, attack, Data/MC, defence); exit 1 at the first bad one."""
    from hepadv.cards.kinds import describe_card
    from hepadv.cli.console import console

    for path in files:
        console.print(f"[green]ok[/green] {path} ({describe_card(path, set_ or [])})", highlight=False)


@cards_app.command("show")
def show(file: Path = typer.Argument(..., help="Card file."), set_: list[str] = SetOption) -> None:
    """Print the resolved card, defaults included, as YAML."""
    import yaml

    from hepadv.cards import load_card
    from hepadv.cards.load import resolved_card
    from hepadv.cli.console import console

    card = load_card(file, set_ or [])
    console.print(yaml.safe_dump(resolved_card(card), sort_keys=False), highlight=False, markup=False)
