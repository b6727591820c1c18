"""``hepadv evaluate CARD``: ROC, AUC and working points raw and under attack, per epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hepadv.cli.cards import SetOption
from hepadv.cli.train import DeviceOption


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)


def evaluate_command(
    card_file: Path = typer.Argument(..., metavar="CARD", help="The run card used for training."),
    set_: list[str] = SetOption,
    device: str = DeviceOption,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Evaluate the trained variants of CARD; writes metrics.json and plots into the run directory."""
    from hepadv.cards import load_card
    from hepadv.evaluation.runner import evaluate_run

    card = load_card(card_file, set_ or [])
    print_summary(evaluate_run(card, device=device, progress=progress), card.output_dir())


def print_summary(results: dict[str, Any], out: Path) -> None:
    """The numbers a physicist looks at first: AUCs, efficiencies, drops under attack, the papers' checks."""
    from rich.table import Table

    from hepadv.cli.console import console

    table = Table(title=f"Tagger performance on {results['n_test_jets']:,} test jets")
    legends = results.get("attack_legends", {})
    first = legends.get(results["attacks"][0], "") if results["attacks"] else ""
    headers = ["variant", "disc.", "AUC\nraw", "eff @1%\nmistag",
               *(f"AUC\n{legends.get(a, a)}" for a in results["attacks"]), f"drop\n{first}"]
    widths = [max(7, *(len(line) for line in h.split("\n"))) for h in headers]  # 7 = len("-0.0120")
    widths[0] = max(widths[0], *(len(v) for v in results["variants"]))
    for i, (header, w) in enumerate(zip(headers, widths, strict=True)):  # never cut: numbers matter
        table.add_column(header, justify="left" if i < 2 else "right", no_wrap=True, min_width=w)
    for name, entry in results["variants"].items():
        raw = entry["metrics"]["raw"]
        for disc, m in raw.items():
            attacked = [entry["metrics"][a][disc]["auc"] for a in results["attacks"]]
            drop = attacked[0] - m["auc"] if attacked and None not in (attacked[0], m["auc"]) else None
            table.add_row(name, disc, _fmt(m["auc"]), _fmt(m["eff_at_mistag"]["medium"], 3),
                          *(_fmt(a) for a in attacked), _fmt(drop, sign=True))
    # wider than the terminal rather than truncated: with many attacks every number still shows
    console.print(table, width=max(console.width, sum(widths) + 3 * len(widths) + 1), crop=False)
    for other, check in results["comparison"]["checks"].items():
        if "raw_auc_difference_BvsL" in check:
            ok = "[green]yes[/green]" if check["raw_within_0.01"] else "[red]no[/red]"
            console.print(f"{other} vs nominal: raw BvsL AUC difference {check['raw_auc_difference_BvsL']:+.4f} "
                          f"(within 0.01: {ok})", highlight=False)
        parts = []
        for disc, ratio in check["drop_ratio"].items():
            mark = "[green]<= 1/2[/green]" if check["drop_at_most_half"][disc] else "[yellow]> 1/2[/yellow]"
            parts.append(f"{disc} {'n/a' if ratio is None else f'{ratio:.2f}'} {mark}")
        console.print(f"{other} AUC drop / nominal AUC drop under {check['attack']}: " + ", ".join(parts),
                      highlight=False)
    _print_transfer(results)
    console.print(f"metrics: {out / 'metrics.json'}   plots: {out / 'plots'}", highlight=False)


def _print_transfer(results: dict[str, Any], disc: str = "BvsL") -> None:
    """Grey-box table for the first model-dependent attack: rows crafted on, columns scored by."""
    from rich.table import Table

    from hepadv.cli.console import console

    transfer = results.get("transfer") or {}
    if not transfer:
        return
    attack, rows = next(iter(transfer.items()))
    legend = results.get("attack_legends", {}).get(attack, attack)
    targets = list(next(iter(rows.values())))
    table = Table(title=f"{disc} AUC under {legend} crafted on one model, scored by another (raw in brackets)")
    table.add_column("crafted on", no_wrap=True)
    for target in targets:
        table.add_column(target, justify="right", no_wrap=True)
    for source, by_target in rows.items():
        table.add_row(source, *(f"{by_target[t].get(disc) or float('nan'):.4f} "
                                f"({results['variants'][t]['metrics']['raw'][disc]['auc']:.4f})" for t in targets))
    console.print(table, crop=False)


def _fmt(value: float | None, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
