"""Options shared by several commands, defined once."""

from __future__ import annotations

import typer

SetOption = typer.Option(None, "--set", help="Override a card value: section.key=value (repeatable).")
DeviceOption = typer.Option(None, "--device", help="auto, cpu or cuda (default: the card's device).")
ProgressOption = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")
