"""``hepadv train CARD``: train every variant of a card, then evaluate and compare them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hepadv.cli.options import DeviceOption, ProgressOption, SetOption, ThreadsOption
from hepadv.cli.report import ReportOption, refresh_report

if TYPE_CHECKING:
    from hepadv.cards.schema import RunCard


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def train_command(
    card_file: Path | None = typer.Argument(None, metavar="CARD", show_default=False,
                                            help="Run card, e.g. cards/adv.yaml (a packaged card when not found "
                                                 "here)."),
    set_: list[str] = SetOption,
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint of each variant."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Discard existing checkpoints and start again."),
    device: str = DeviceOption,
    threads: int | None = ThreadsOption,
    evaluate: bool | None = typer.Option(None, "--evaluate/--no-evaluate", show_default=False,
                                         help="Evaluate and compare after training \\[default: when something "
                                              "was trained]."),
    progress: bool = ProgressOption,
    submit: str | None = typer.Option(None, "--submit", metavar="slurm|htcondor",
                                      help="Submit as a batch job instead (resources from the card's submit:)."),
    status: Path | None = typer.Option(None, "--status", metavar="RUN_DIR",
                                       help="Show the submitted job's state and each variant's last epoch."),
    report: bool = ReportOption,
) -> None:
    """Train the tagger variants of CARD (nominal, adversarial, ...) with checkpoints every epoch."""
    from hepadv.cards import load_card
    from hepadv.cli.console import console
    from hepadv.cli.progress import cli_progress
    from hepadv.cli.summary import print_summary
    from hepadv.errors import CardError
    from hepadv.training.loop import train

    if status is not None:
        print_status(status)
        return
    if card_file is None:
        raise CardError("hepadv train needs a CARD (or --status RUN_DIR)")
    reporter = cli_progress(progress)
    card = load_card(card_file, [*(set_ or []), *([("threads", threads)] if threads else [])], progress=reporter)
    if submit is not None:
        submit_job(card, card_file, set_ or [], device, submit, overwrite, evaluate is not False)
        return
    result = train(card, resume=resume, overwrite=overwrite, device=device, progress=reporter)
    if not result.trained and evaluate is None:
        reporter.note("(pass --evaluate to evaluate the models again)")
        refresh_report(card.output_dir(), report)
        return
    for name, v in result.variants.items():
        console.print(f"[green]trained[/green] {name}: {_trained_line(v.history, v.best_epoch)} -> {v.directory}",
                      highlight=False, soft_wrap=True)
    if evaluate is not False:
        from hepadv.evaluation.runner import evaluate_run

        results = evaluate_run(card, device=device, data=result.data, progress=reporter)
        print_summary(results, card.output_dir())
    refresh_report(card.output_dir(), report)


def _trained_line(h: dict, best_epoch: int) -> str:
    """Best epoch, validation loss and how fast, saying how the speed was measured (a shared machine varies)."""
    import statistics

    rate = statistics.median(h["jets_per_second"])
    threads = {t for t in h.get("threads", []) if t is not None}
    n = threads.pop() if len(threads) == 1 else None
    how = "" if n is None else f", {n} torch thread" + ("s" if n > 1 else "")
    return (f"best epoch {best_epoch} of {h['epoch'][-1]}, val loss {min(h['val_loss']):.5g}, {rate:,.0f} jets/s "
            f"(median of {len(h['epoch'])} epochs{how})")


def submit_job(card: RunCard, card_file: Path, overrides: list[str], device: str | None, system: str,
               overwrite: bool, evaluate: bool) -> None:
    """``--submit``: write the job files and submit (SLURM) or say how to submit (HTCondor)."""
    from hepadv.cli.console import console
    from hepadv.errors import CardError
    from hepadv.training.submit import submit

    if overwrite:
        raise CardError("--overwrite cannot go with --submit (a requeued job would start over again); "
                        "delete the run directory first")
    sub = submit(card, card.source or card_file, system, overrides, device, evaluate)
    if sub.system == "slurm":
        console.print(f"submitted SLURM job {sub.job_id}: {sub.script}", highlight=False, soft_wrap=True)
        console.print(f"log: {sub.log}   status: hepadv train --status {sub.run_dir}", highlight=False, soft_wrap=True)
    else:
        console.print(f"wrote the HTCondor submit description {sub.script} (not submitted); "
                      f"submit with: condor_submit {sub.script}", highlight=False, soft_wrap=True)


def print_status(run_dir: Path) -> None:
    """``--status``: the job's state and each variant's last epoch."""
    from hepadv.cli.console import console
    from hepadv.training.submit import status

    st = status(run_dir)
    job = st["job"]
    if job is not None:
        console.print(f"{job['system']} job {job['job_id']}: {job['state']}   log: {job['log']}", highlight=False,
                      soft_wrap=True)
    for name, v in st["variants"].items():
        total = f" of {v['epochs']}" if v.get("epochs") else ""
        last = "no epoch yet" if v["last_epoch"] is None else f"last epoch {v['last_epoch']}{total}"
        console.print(f"{name}: {last}{', best.pt written' if v['best'] else ''}", highlight=False, soft_wrap=True)
