"""Options shared by several commands, defined once, and the renderer each command hands the library."""

from __future__ import annotations

import typer

SetOption = typer.Option(None, "--set", metavar="KEY=VALUE",
                         help="Override a card value, e.g. training.epochs=3 (repeatable).")
DeviceOption = typer.Option(None, "--device", metavar="auto|cpu|cuda", help="Device (default: the card's).")
ProgressOption = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")
ThreadsOption = typer.Option(None, "--threads", min=1, max=1024, metavar="N",
                             help="torch CPU threads \\[default: the card's threads, 1].")
