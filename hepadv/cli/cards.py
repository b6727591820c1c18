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
    """Validate cards (schema and each component's params); exit 1 at the first bad one."""
    from hepadv.cards import load_card
    from hepadv.cards.defence_card import is_defence_card, load_defence_card
    from hepadv.cli.console import console

    for path in files:
        if is_defence_card(path):  # hepadv defend cards: a defence, an attack and a base run
            dcard = load_defence_card(path, set_ or [])
            console.print(f"[green]ok[/green] {path} (defence {dcard.defence.name}, attack {dcard.attack.name}, "
                          f"{dcard.runs} runs of {dcard.run_card.name})", highlight=False)
            continue
        card = load_card(path, set_ or [])
        variants = ", ".join(v.name for v in card.variants)
        console.print(f"[green]ok[/green] {path} ({card.dataset.name}, {card.model.name}; variants: {variants})",
                      highlight=False)


@cards_app.command("show")
def show(file: Path = typer.Argument(..., help="Card file."), set_: list[str] = SetOption) -> None:
    """Print the resolved card, defaults included, as YAML."""
    import yaml

    from hepadv.cards import load_card
    from hepadv.cards.load import resolved_card
    from hepadv.cli.console import console

    card = load_card(file, set_ or [])
    console.print(yaml.safe_dump(resolved_card(card), sort_keys=False), highlight=False, markup=False)
