"""Shared rich consoles and the --verbose switch."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


class Settings:
    verbose: bool = False


settings = Settings()
