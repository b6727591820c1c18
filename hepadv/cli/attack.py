"""``hepadv attack [CARD_OR_RUN_DIR] --plugin NAME``: attack a trained run, report how visible the attack is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hepadv.cli.report import ReportOption, refresh_report
from hepadv.cli.train import DeviceOption

DEFAULT_TARGET = Path("cards/adv.yaml")
DEFAULT_PLUGIN = "conservattack"


def register(app: typer.Typer) -> None:
    app.command("attack")(attack_command)


def attack_command(
    target: Path = typer.Argument(DEFAULT_TARGET, metavar="[CARD_OR_RUN_DIR]",
                                  help="Run card (its models are trained first if missing) or run directory."),
    plugin: str = typer.Option(None, "--plugin", "-p", help=f"Attack to run, any registered one (per-event or "
                                                            f"dataset-level); default {DEFAULT_PLUGIN}."),
    attack_card: Path = typer.Option(None, "--card", help="Attack card with the params (default: "
                                                          "cards/<plugin>.yaml when it exists)."),
    set_: list[str] = typer.Option(None, "--set", help="Override an attack parameter: KEY=VALUE (repeatable), "
                                                       "e.g. --set alpha=2."),
    variant: str = typer.Option(None, "--variant", help="Attack only this variant (default: every variant)."),
    split: str = typer.Option(None, "--split", help="train, val or test (default: the attack card's, else test)."),
    max_events: int = typer.Option(None, "--max-events", min=1, help="Attack the first N events of the split."),
    bins: int = typer.Option(None, "--bins", min=2, help="Histogram bins of the reported JSD (default: the "
                                                         "attack's num_bins, else 200)."),
    device: str = DeviceOption,
    output: Path = typer.Option(None, "--output", "-o", help="Output directory (default: "
                                                             "RUN/attacks/<plugin>-<hash>)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    report: bool = ReportOption,
) -> None:
    """Attack the trained models of a run and write the adversarial events, metrics.json and plots.

    Example: [bold]hepadv attack --plugin conservattack --max-events 20000[/bold] attacks the main job's models
    (cards/adv.yaml, trained first if needed) on their test split with the params of cards/conservattack.yaml;
    [bold]hepadv attack --plugin fgsm --set epsilon=0.05[/bold] gives the same figures for FGSM.
    """
    from hepadv.attacks.runner import check_params, run_attack
    from hepadv.cards.attack_card import load_attack_card
    from hepadv.cli.console import console
    from hepadv.errors import CardError

    card = None
    if attack_card is not None:
        card = load_attack_card(attack_card, set_ or [])
    else:
        guess = Path("cards") / f"{plugin or DEFAULT_PLUGIN}.yaml"
        if guess.is_file():
            card = load_attack_card(guess, set_ or [])
    name = plugin or (card.attack.name if card is not None else DEFAULT_PLUGIN)
    if card is not None and card.attack.name != name:
        raise CardError(f"{attack_card}: holds params for {card.attack.name!r}, not for --plugin {name}")
    if card is not None:
        params: dict[str, Any] = card.attack.validated_params.model_dump()
    else:
        from hepadv.cards.load import apply_overrides

        params = apply_overrides({}, set_ or [], "--set")
        check_params(name, params)
    if split is not None and split not in ("train", "val", "test"):
        raise CardError(f"--split {split!r}: expected train, val or test")
    out, summary = run_attack(
        target if target != DEFAULT_TARGET or card is None or card.run is None else card.run, name, params,
        variant=variant, split=split or (card.split if card is not None else "test"),
        max_events=max_events or (card.max_events if card is not None else None), device=device, output=output,
        progress=progress, bins=bins, say=lambda text: console.print(f"[yellow]{text}[/yellow]", highlight=False))
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
