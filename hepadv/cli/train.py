"""``hepadv train CARD``: train every variant of a card, then evaluate and compare them."""

from __future__ import annotations

from pathlib import Path

import typer

from hepadv.cli.options import DeviceOption, ProgressOption, SetOption
from hepadv.cli.report import ReportOption, refresh_report


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def train_command(
    card_file: Path | None = typer.Argument(None, metavar="CARD", help="Run card, e.g. cards/adv.yaml."),
    set_: list[str] = SetOption,
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint of each variant."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Discard existing checkpoints and start again."),
    device: str = DeviceOption,
    evaluate: bool = typer.Option(True, "--evaluate/--no-evaluate", help="Evaluate and compare after training."),
    progress: bool = ProgressOption,
    submit: str | None = typer.Option(None, "--submit", help="Submit as a batch job instead: slurm (sbatch) or "
                                      "htcondor (writes the submit description); resources from the card's submit:."),
    status: Path | None = typer.Option(None, "--status", metavar="RUN_DIR", help="Show the submitted job's state "
                                       "and the last epoch of each variant."),
    report: bool = ReportOption,
) -> None:
    """Train the tagger variants of CARD (nominal, adversarial, ...) with checkpoints every epoch."""
    from hepadv.cards import load_card
    from hepadv.cli.console import console
    from hepadv.cli.summary import print_summary
    from hepadv.training.loop import train

    if status is not None or submit is not None:
        from hepadv.training.submit import run_submit_command

        run_submit_command(card_file, set_ or [], device, submit, status, overwrite, evaluate)
        return
    if card_file is None:
        from hepadv.errors import CardError

        raise CardError("hepadv train needs a CARD (or --status RUN_DIR)")
    card = load_card(card_file, set_ or [])
    result = train(card, resume=resume, overwrite=overwrite, device=device, progress=progress)
    for name, v in result.variants.items():
        h = v.history
        console.print(f"[green]trained[/green] {name}: best epoch {v.best_epoch} of {h['epoch'][-1]}, "
                      f"val loss {min(h['val_loss']):.5g}, {sum(h['jets_per_second']) / len(h['epoch']):,.0f} "
                      f"jets/s -> {v.directory}", highlight=False)
    if evaluate:
        from hepadv.evaluation.runner import evaluate_run

        results = evaluate_run(card, device=device, data=result.data, progress=progress)
        print_summary(results, card.output_dir())
    refresh_report(card.output_dir(), report)
