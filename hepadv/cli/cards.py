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
    from hepadv.cli.console import console

    for path in files:
        if is_datamc_card(path):
            from hepadv.datamc.card import load_datamc_card

            dm = load_datamc_card(path, set_ or [])
            console.print(f"[green]ok[/green] {path} (Data/MC: selection {dm.selection.name}, "
                          f"{len(dm.taggers)} tagger(s))", highlight=False)
            continue
        card = load_card(path, set_ or [])
        variants = ", ".join(v.name for v in card.variants)
        console.print(f"[green]ok[/green] {path} ({card.dataset.name}, {card.model.name}; variants: {variants})",
                      highlight=False)


def is_datamc_card(path: Path) -> bool:
    """Data/MC cards have a ``selection`` or ``taggers`` section, which run cards never have."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False  # let the run-card loader report the problem
    return isinstance(data, dict) and bool({"selection", "taggers"} & set(data))


@cards_app.command("show")
def show(file: Path = typer.Argument(..., help="Card file."), set_: list[str] = SetOption) -> None:
    """Print the resolved card, defaults included, as YAML."""
    import yaml

    from hepadv.cards import load_card
    from hepadv.cards.load import resolved_card
    from hepadv.cli.console import console

    card = load_card(file, set_ or [])
    console.print(yaml.safe_dump(resolved_card(card), sort_keys=False), highlight=False, markup=False)
