"""``hepadv report RUN_DIR``: the run's HTML report; and ``refresh_report``, which every command calls at its end."""

from __future__ import annotations

from pathlib import Path

import typer

from hepadv.report.layout import run_dir_of

__all__ = ["ReportOption", "refresh_report", "register", "run_dir_of"]

ReportOption = typer.Option(True, "--report/--no-report", help="Refresh RUN/report.html at the end.")


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


def report_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A run folder, e.g. runs/adv."),
) -> None:
    """Write RUN_DIR/report.html: provenance, training, every attack, Data/MC selection and defence study.

    One self-contained file (images embedded, no network requests); every number is read from the run's JSON.
    """
    from hepadv.cli.console import console
    from hepadv.report import write_report

    console.print(f"report: {write_report(run_dir)}", highlight=False)


def refresh_report(run_dir: Path | str | None, enabled: bool = True) -> None:
    """Rewrite the report of ``run_dir`` after a command and print its path; a failure is one yellow line, since
    the command's own outputs are already written (``--verbose`` raises it)."""
    if not enabled or run_dir is None or not Path(run_dir).is_dir():
        return
    from rich.markup import escape

    from hepadv.cli.console import console, settings
    from hepadv.report import write_report

    try:
        console.print(f"report: {write_report(run_dir)}", highlight=False)
    except Exception as exc:
        if settings.verbose:
            raise
        console.print(f"[yellow]report not refreshed: {escape(str(exc) or type(exc).__name__)}[/yellow]",
                      highlight=False)
