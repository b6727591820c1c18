"""``hepadv attack [CARD_OR_RUN_DIR] --plugin NAME``: attack a trained run, report how visible the attack is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hepadv.cli.options import DeviceOption, ProgressOption, ThreadsOption
from hepadv.cli.report import ReportOption, refresh_report

DEFAULT_TARGET = Path("cards/adv.yaml")
DEFAULT_PLUGIN = "conservattack"


def register(app: typer.Typer) -> None:
    app.command("attack")(attack_command)


def attack_command(
    target: Path = typer.Argument(DEFAULT_TARGET, metavar="CARD_OR_RUN_DIR", show_default=False,
                                  help="Run card (its models are trained first if missing) or run directory "
                                       "\\[default: cards/adv.yaml]."),
    plugin: str = typer.Option(None, "--plugin", "-p", metavar="NAME",
                               help=f"Attack to run: any registered one \\[default: {DEFAULT_PLUGIN}]."),
    attack_card: Path = typer.Option(None, "--card", metavar="CARD",
                                     help="Attack card with the params \\[default: cards/PLUGIN.yaml if there is "
                                          "one]."),
    set_: list[str] = typer.Option(None, "--set", metavar="KEY=VALUE",
                                   help="Override an attack parameter, e.g. alpha=2 (repeatable)."),
    variant: str = typer.Option(None, "--variant", help="Attack only this variant \\[default: every variant]."),
    split: str = typer.Option(None, "--split", metavar="train|val|test",
                              help="Split to attack \\[default: the attack card's, else test]."),
    max_events: int = typer.Option(None, "--max-events", min=1, metavar="N",
                                   help="Attack the first N events of the split."),
    bins: int = typer.Option(None, "--bins", min=2, max=100_000, metavar="N",
                             help="Bins of the reported JSD \\[default: the attack's num_bins, else 200]."),
    device: str = DeviceOption,
    threads: int | None = ThreadsOption,
    output: Path = typer.Option(None, "--output", "-o", metavar="DIR",
                                help="Output folder \\[default: RUN/attacks/ID]."),
    progress: bool = ProgressOption,
    report: bool = ReportOption,
) -> None:
    """Attack the trained models of a run; write the adversarial events, metrics.json and plots.

    Examples:

    [bold]hepadv attack --plugin conservattack --max-events 20000[/bold]
    (the main job's models, trained first if needed, with cards/conservattack.yaml)

    [bold]hepadv attack --plugin fgsm --set epsilon=0.05[/bold]
    (the same figures for FGSM)
    """
    from hepadv.attacks.runner import run_attack
    from hepadv.cards import load
    from hepadv.cards.attack import AttackCard, attack_override
    from hepadv.cards.packaged import packaged_cards
    from hepadv.cli.progress import cli_progress
    from hepadv.errors import CardError
    from hepadv.runs import open_run

    reporter = cli_progress(progress)
    overrides = [attack_override(item) for item in set_ or []]
    source: Path | dict | None = attack_card
    if source is None:
        guess = Path("cards") / f"{plugin or DEFAULT_PLUGIN}.yaml"
        if guess.is_file() or guess.stem in packaged_cards():
            source = guess
    if source is not None:
        card = load(source, "attack", overrides, progress=reporter)
    else:
        from hepadv.cards.load import apply_overrides, validate

        data = apply_overrides({"kind": "attack", "attack": {"name": plugin or DEFAULT_PLUGIN}}, overrides, "--set")
        card = validate(data, "attack", "--plugin " + (plugin or DEFAULT_PLUGIN), overrides=overrides)
    assert isinstance(card, AttackCard)
    name = plugin or card.attack.name
    if card.attack.name != name:
        raise CardError(f"{source}: holds params for {card.attack.name!r}, not for --plugin {name}")
    if split is not None and split not in ("train", "val", "test"):
        raise CardError(f"--split {split!r}: expected train, val or test")
    from hepadv import get_attack

    attack = get_attack(name)(card.attack.validated_params)
    chosen = target if target != DEFAULT_TARGET or card.run is None else card.run
    run, run_card = open_run(chosen, progress=reporter)
    if threads:
        run_card = run_card.model_copy(update={"threads": threads})
    out, summary = run_attack(run_card, attack, run_dir=run.dir, variant=variant,
                              split=split or card.split, max_events=max_events or card.max_events, device=device,
                              output=output, progress=reporter, bins=bins, train_if_missing=not Path(chosen).is_dir())
    print_attack_summary(summary, out)
    refresh_report(summary["run"], report)


def print_attack_summary(summary: dict[str, Any], out: Path) -> None:
    """Fooling ratio, mean JSD, dFN and the AUCs per variant, then where the files are."""
    from rich.table import Table

    from hepadv.cli.console import console

    first = next(iter(summary["variants"].values()))
    disco = any("dfn_disco" in v for v in summary["variants"].values())
    table = Table(title=f"{summary['plugin']} on {summary['n_events']:,} {summary['split']} events "
                        f"(fooled: {first['fooled_definition']})")
    for col in ("variant", "FR", "mean JSD", "dFN", *(["dFN disco"] if disco else [])):
        table.add_column(col, justify="left" if col == "variant" else "right", no_wrap=True)
    for name, v in summary["variants"].items():
        table.add_row(name, f"{v['fooling_ratio']:.3f}", f"{v['mean_jsd']:.4f}", f"{v['dfn']:.4f}",
                      *([_f(v.get("dfn_disco"), 4)] if disco else []))
    console.print(table, crop=False)
    aucs = Table(title="AUC raw -> attacked")
    aucs.add_column("discriminator", no_wrap=True)
    for name in summary["variants"]:
        aucs.add_column(name, justify="right", no_wrap=True)
    for d in first["auc"]:
        aucs.add_row(d, *("n/a" if v["auc"][d]["raw"] is None else
                          f"{v['auc'][d]['raw']:.4f} -> {v['auc'][d]['attacked']:.4f}"
                          for v in summary["variants"].values()))
    console.print(aucs, crop=False)
    for name, v in summary["variants"].items():
        if v.get("regions"):
            r = v["regions"]
            console.print(f"{name}: FR control {r['control']['fooling_ratio']:.3f}, signal "
                          f"{_f(r['signal']['fooling_ratio'])}, all {r['all']['fooling_ratio']:.3f} "
                          "(JSD and dFN above: control region)", highlight=False)
        if v.get("constant_features"):
            console.print(f"[yellow]{name}: constant feature(s) {', '.join(v['constant_features'])}: Pearson "
                          "correlation undefined, left out of dFN (and never moved by conservattack)[/yellow]",
                          highlight=False)
    console.print(f"output: {out}", highlight=False)


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
