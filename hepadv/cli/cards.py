"""``hepadv cards validate|show|list|init``: check, resolve, list and copy cards of every kind."""

from __future__ import annotations

from pathlib import Path

import typer

from hepadv.cli.options import SetOption

cards_app = typer.Typer(help="Validate, show, list and copy cards (run, attack, Data/MC, defence).",
                        no_args_is_help=True)

KindOption = typer.Option(None, "--kind", metavar="run|attack|datamc|defence",
                          help="The kind to read a card without kind: as \\[default: run].")


def register(app: typer.Typer) -> None:
    app.add_typer(cards_app, name="cards")


@cards_app.command("validate")
def validate(files: list[Path] = typer.Argument(..., metavar="CARD...", show_default=False,
                                                help="Card files (or packaged card names) to check."),
             set_: list[str] = SetOption, kind: str | None = KindOption) -> None:
    """Validate cards of every kind without running them; exit 1 at the first bad one."""
    from hepadv.cards import load
    from hepadv.cli.console import console
    from hepadv.cli.progress import cli_progress

    for path in files:
        card = load(path, _kind(kind), set_ or [], progress=cli_progress(False))
        console.print(f"[green]ok[/green] {path} ({card.summary()})", highlight=False, soft_wrap=True)


@cards_app.command("show")
def show(file: Path = typer.Argument(..., metavar="CARD", show_default=False, help="Card file or packaged name."),
         set_: list[str] = SetOption, kind: str | None = KindOption) -> None:
    """Print the resolved card, defaults and component params included, as YAML."""
    import yaml

    from hepadv.cards import load, resolved_card
    from hepadv.cli.console import console
    from hepadv.cli.progress import cli_progress

    card = load(file, _kind(kind), set_ or [], progress=cli_progress(False))
    console.print(yaml.safe_dump(resolved_card(card), sort_keys=False), highlight=False, markup=False)


@cards_app.command("list")
def list_cards() -> None:
    """List the example cards shipped with hepadv (usable by name from any folder)."""
    from rich.table import Table

    from hepadv.cards.packaged import kind_of, packaged_cards
    from hepadv.cli.console import console

    table = Table(title="packaged cards (hepadv cards init DIR copies them)")
    table.add_column("card", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("what")
    for name, path in packaged_cards().items():
        table.add_row(f"{name}.yaml", kind_of(path), _first_comment(path))
    console.print(table)


@cards_app.command("init")
def init(directory: Path = typer.Argument(Path("cards"), metavar="DIR", help="Folder to copy the cards into "
                                          "\\[default: cards]."),
         overwrite: bool = typer.Option(False, "--overwrite", help="Replace cards that already exist there.")) -> None:
    """Copy the packaged example cards into DIR, to edit them."""
    from hepadv.cards.packaged import init_cards
    from hepadv.cli.console import console

    written = init_cards(directory, overwrite)
    console.print(f"[green]copied[/green] {len(written)} cards into {directory}", highlight=False, soft_wrap=True)


def _kind(kind: str | None) -> str | None:
    from hepadv.cards.kinds import CARD_KINDS
    from hepadv.errors import CardError

    if kind is not None and kind not in CARD_KINDS:
        raise CardError(f"--kind {kind!r}: expected one of {', '.join(CARD_KINDS)}")
    return kind


def _first_comment(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
