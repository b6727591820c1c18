"""``hepadv evaluate CARD|RUN_DIR``: ROC, AUC and working points raw and under attack, per epoch."""

from __future__ import annotations

from pathlib import Path

import typer

from hepadv.cli.options import DeviceOption, ProgressOption, SetOption, ThreadsOption
from hepadv.cli.report import ReportOption, refresh_report


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)


def evaluate_command(
    target: Path = typer.Argument(..., metavar="CARD|RUN_DIR", show_default=False,
                                  help="The run card used for training, or the run directory itself (its "
                                       "recorded card is used, so the card file may have changed or gone)."),
    set_: list[str] = SetOption,
    device: str = DeviceOption,
    threads: int | None = ThreadsOption,
    progress: bool = ProgressOption,
    report: bool = ReportOption,
) -> None:
    """Evaluate the trained variants; writes metrics.json and plots into the run directory."""
    from hepadv.cli.progress import cli_progress
    from hepadv.cli.summary import print_summary
    from hepadv.evaluation.runner import evaluate_run
    from hepadv.runs import open_run
    from hepadv.runs.lock import run_lock

    reporter = cli_progress(progress)
    run, card = open_run(target, set_ or [], progress=reporter)
    if threads:
        card = card.model_copy(update={"threads": threads})
    with run_lock(run.dir, reporter.note):
        results = evaluate_run(card, device=device, progress=reporter, run_dir=run.dir)
    print_summary(results, run.dir)
    refresh_report(run.dir, report)
