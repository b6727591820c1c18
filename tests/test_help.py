"""Every command's ``--help`` reads cleanly in an 80-column terminal: nothing cut with "…", no doubled brackets,
no ``<bool>`` type placeholders on flags (issue 25)."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from hepadv.cli.main import build_app


def _commands() -> list[list[str]]:
    """The path of every command and subcommand, e.g. ["cards", "show"]."""
    root = typer.main.get_command(build_app())
    found: list[list[str]] = [[]]

    def walk(group: Any, prefix: list[str]) -> None:
        for name, cmd in group.commands.items():
            found.append([*prefix, name])
            if hasattr(cmd, "commands"):  # a group (typer vendors its own click: no isinstance check)
                walk(cmd, [*prefix, name])

    walk(root, [])
    return found


COMMANDS = _commands()


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "hepadv" for p in COMMANDS])
def test_help_at_80_columns(path: list[str]) -> None:
    result = CliRunner().invoke(build_app(), [*path, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.output
    text = result.output
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text, text
    assert "[[" not in text and "]]" not in text, text
    assert "<bool>" not in text, text
    assert "Usage: hepadv" in text
    flat = " ".join(text.replace("│", " ").split())
    for default in _stated_defaults(path):  # rich markup must not eat a help text's "[default: ...]"
        assert default in flat, (default, text)


def _stated_defaults(path: list[str]) -> list[str]:
    """The "[default: ...]" phrases the command's own help strings state (escaped for rich in the source)."""
    import re

    cmd: Any = typer.main.get_command(build_app())
    for name in path:
        cmd = cmd.commands[name]
    helps = [getattr(p, "help", None) or "" for p in cmd.params]
    return [m.replace("\\", "") for h in helps for m in re.findall(r"\\\[default: [^\]]*\]", h)]


def test_every_builtin_command_is_covered() -> None:
    assert {"train", "evaluate", "attack", "datamc", "defend", "plugins", "cards"} <= {p[0] for p in COMMANDS if p}
    assert ["cards", "init"] in COMMANDS and ["plugins", "new"] in COMMANDS
