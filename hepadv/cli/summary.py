"""The numbers a physicist looks at first, printed after ``hepadv train`` and ``hepadv evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hepadv.evaluation.scoring import RAW


def summary_text(results: dict[str, Any], out: Path, width: int = 110) -> str:
    """What ``print_summary`` prints, as plain text at ``width`` columns (the README's demo block quotes it)."""
    import io

    from rich.console import Console

    recorder = Console(file=io.StringIO(), width=width, record=True, color_system=None, force_terminal=False)
    print_summary(results, out, recorder)
    return recorder.export_text()


def print_summary(results: dict[str, Any], out: Path, console: Any = None) -> None:
    """AUCs, efficiencies, drops under every attack, the papers' checks and the transfer table."""
    from rich.table import Table

    if console is None:
        from hepadv.cli.console import console

    attacks = results["attacks"]
    table = Table(title=f"Tagger performance on {results['n_test_jets']:,} test jets")
    headers = ["variant", "disc.", "AUC\nraw", "eff @1%\nmistag",
               *(f"AUC\n{a['label']}" for a in attacks), *(f"drop\n{a['label']}" for a in attacks)]
    widths = [max(7, *(len(line) for line in h.split("\n"))) for h in headers]  # 7 = len("-0.0120")
    widths[0] = max(widths[0], *(len(v) for v in results["variants"]))
    for i, (header, w) in enumerate(zip(headers, widths, strict=True)):  # never cut: numbers matter
        table.add_column(header, justify="left" if i < 2 else "right", no_wrap=True, min_width=w)
    for name, entry in results["variants"].items():
        for disc, m in entry["metrics"][RAW].items():
            attacked = [entry["metrics"][a["id"]][disc]["auc"] for a in attacks]
            drops = [None if None in (v, m["auc"]) else v - m["auc"] for v in attacked]
            table.add_row(name, disc, _fmt(m["auc"]), _fmt(m["eff_at_mistag"]["medium"], 3),
                          *(_fmt(a) for a in attacked), *(_fmt(d, sign=True) for d in drops))
    # wider than the terminal rather than truncated: with many attacks every number still shows
    console.print(table, width=max(console.width, sum(widths) + 3 * len(widths) + 1), crop=False)
    labels = {a["id"]: a["label"] for a in attacks}
    for other, check in results["comparison"]["checks"].items():
        ref = check["reference"]
        if "raw_auc_difference" in check:
            ok = "[green]yes[/green]" if check["raw_within_tolerance"] else "[red]no[/red]"
            console.print(f"{other} vs {ref}: raw {check['primary']} AUC difference "
                          f"{check['raw_auc_difference']:+.4f} (within 0.01: {ok})", highlight=False, soft_wrap=True)
        for attack_id, per in check["attacks"].items():
            parts = []
            for disc, ratio in per["drop_ratio"].items():
                mark = "[green]<= 1/2[/green]" if per["drop_at_most_half"][disc] else "[yellow]> 1/2[/yellow]"
                parts.append(f"{disc} {'n/a' if ratio is None else f'{ratio:.2f}'} {mark}")
            console.print(f"{other} AUC drop / {ref} AUC drop under {labels[attack_id]}: " + ", ".join(parts),
                          highlight=False, soft_wrap=True)
    _print_over_training(results, console)
    _print_transfer(results, console)
    console.print(f"metrics: {out / 'metrics.json'}   plots: {out / 'plots'}", highlight=False)


def _print_over_training(results: dict[str, Any], console: Any) -> None:
    """The first discriminator's AUC change under each attack, first and last evaluated epoch (paper fig. 9)."""
    disc = results["discriminators"][0]
    for attack in results["attacks"]:
        parts = []
        for name, entry in results["variants"].items():
            rows = [(e["epoch"], e[attack["id"]].get(disc), e[RAW].get(disc)) for e in entry.get("per_epoch", [])]
            drops = [(epoch, hit - raw) for epoch, hit, raw in rows if hit is not None and raw is not None]
            if len(drops) > 1:
                parts.append(f"{name} {drops[0][1]:+.4f} (epoch {drops[0][0]}) to {drops[-1][1]:+.4f} "
                             f"(epoch {drops[-1][0]})")
        if parts:
            console.print(f"{disc} AUC change under {attack['label']} over training: " + "; ".join(parts),
                          highlight=False, soft_wrap=True)


def _print_transfer(results: dict[str, Any], console: Any) -> None:
    """Grey-box tables, one per model-dependent attack: rows crafted on, columns scored by."""
    from rich.table import Table

    disc = results["discriminators"][0]
    labels = {a["id"]: a["label"] for a in results["attacks"]}
    for attack_id, rows in (results.get("transfer") or {}).items():
        targets = list(next(iter(rows.values())))
        table = Table(title=f"{disc} AUC under {labels[attack_id]} crafted on one model, scored by another "
                            "(raw in brackets)")
        table.add_column("crafted on", no_wrap=True)
        for target in targets:
            table.add_column(target, justify="right", no_wrap=True)
        for source, by_target in rows.items():
            table.add_row(source, *(f"{_fmt(by_target[t].get(disc))} "
                                    f"({_fmt(results['variants'][t]['metrics'][RAW][disc]['auc'])})" for t in targets))
        console.print(table, crop=False)


def _fmt(value: float | None, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
