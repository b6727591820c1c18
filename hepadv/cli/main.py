"""Entry point of the ``hepadv`` CLI and its single error boundary.

User errors (``HepadvError``) become one red line on stderr and exit code 1; ``--verbose`` shows the traceback.
"""

from __future__ import annotations

import errno
import logging
import sys
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperArgument, TyperGroup, TyperOption

from hepadv import __version__
from hepadv.cli.console import err_console, settings
from hepadv.errors import HepadvError, Interrupted

#: Failures of the machine, not of hepadv or the card: one line, no traceback.
_ENVIRONMENT = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


class _ErrorBoundary(TyperGroup):
    """Turns ``HepadvError`` raised anywhere below into a one-line message and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Interrupted as exc:  # Ctrl-C in training: say what was kept, exit 130 like the shell does
            if settings.verbose:
                raise
            err_console.print(f"[bold yellow]{escape(str(exc))}[/bold yellow]", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except HepadvError as exc:
            if settings.verbose:
                raise
            err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except OSError as exc:
            if settings.verbose or exc.errno not in _ENVIRONMENT:
                raise
            where = f" writing {exc.filename}" if exc.filename else ""
            err_console.print(f"[bold red]error:[/bold red] {escape(exc.strerror or str(exc))}{escape(where)}; every "
                              "output is written atomically, so what was finished before is kept and nothing "
                              "half-written is left (free space and rerun; training: --resume)", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            if settings.verbose:
                raise
            err_console.print("[bold yellow]interrupted[/bold yellow]", highlight=False)
            raise typer.Exit(Interrupted.exit_code) from None


def _help_type(param: Any, ctx: Any) -> str | None:
    """The type column of ``--help``: an option's own metavar (``KEY=VALUE``, ``N``), nothing for flags and
    arguments (typer's default prints ``<bool>`` for every flag, as if it took a value)."""
    if isinstance(param, TyperArgument) or getattr(param, "is_flag", False) or getattr(param, "is_bool_flag", False):
        return None
    return param.metavar


TyperOption.display_type_rich = _help_type  # type: ignore[method-assign]
TyperArgument.display_type_rich = _help_type  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hepadv {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """A fresh app with the commands of every plugin (built-ins included) registered."""
    from hepadv.registry.manager import add_commands

    app = typer.Typer(
        cls=_ErrorBoundary,
        name="hepadv",
        help="Adversarial robustness of jet taggers and its effect on Data/MC agreement.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and debug logging."),
    ) -> None:
        settings.verbose = verbose
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr, force=True
        )

    add_commands(app)
    return app


def main() -> None:
    try:
        app = build_app()
    except HepadvError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    app()


if __name__ == "__main__":
    main()
