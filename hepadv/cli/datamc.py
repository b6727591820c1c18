"""``hepadv datamc``: Data/MC agreement of taggers in a flavour-enriched selection (thesis app. A.5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hepadv.cli.cards import SetOption


def register(app: typer.Typer) -> None:
    app.command("datamc")(datamc_command)


def datamc_command(
    card_file: Path | None = typer.Argument(None, metavar="[CARD]",
                                            help="Data/MC card; default cards/datamc_SELECTION.yaml if present."),
    selection: str | None = typer.Option(None, "--selection", "-s", help="dy, wc, ttsemilep or a plugin's."),
    executor: str | None = typer.Option(None, "--executor", "-e", help="iterative, futures, dask, slurm or htcondor."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="dask scheduler address (default: local cluster)."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Workers, or batch jobs (slurm)."),
    chunksize: int | None = typer.Option(None, "--chunksize", min=1, help="Events per chunk."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many chunks per sample."),
    skip_bad_files: bool | None = typer.Option(None, "--skip-bad-files/--no-skip-bad-files",
                                               help="Report and skip unreadable or unsuitable files."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output folder (default RUN/datamc/SELECTION)."),
    set_: list[str] = SetOption,
    device: str | None = typer.Option(None, "--device", help="Device for training a missing run."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Histogram tagger outputs in data and MC, with KL(data || MC) per output, epoch and MC distortion."""
    from hepadv.cli.console import console
    from hepadv.datamc.card import load_datamc_card
    from hepadv.datamc.run import run_datamc
    from hepadv.errors import CardError

    if card_file is None and Path(f"cards/datamc_{selection or 'dy'}.yaml").is_file():
        card_file = Path(f"cards/datamc_{selection or 'dy'}.yaml")
    overrides = list(set_ or [])
    if selection is not None:
        from hepadv import get_selection

        get_selection(selection)  # unknown names: one line listing the known selections
    if scheduler is not None and (executor or "dask") != "dask":
        raise CardError("--scheduler needs --executor dask")
    if executor is not None or scheduler is not None or workers is not None:
        name = executor or ("dask" if scheduler else None)
        if name is not None and name != _card_executor(card_file):
            overrides.append(f"executor={{name: {name}, params: {{}}}}")  # another executor: its own defaults
        # key by key, so the card's other executor params (partition, memory, ...) stay
        for key, value in (("workers", workers), ("scheduler", scheduler)):
            if value is not None:
                overrides.append(f"executor.params.{key}={value}")
    for key, value in (("chunksize", chunksize), ("max_chunks", limit), ("skip_bad_files", skip_bad_files),
                       ("output", output)):
        if value is not None:
            overrides.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    card = load_datamc_card(card_file, overrides)
    if selection is not None and card.selection.name != selection:  # another selection: its default cuts
        card = load_datamc_card(card_file, [*overrides, f"selection={{name: {selection}}}"])

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    results = run_datamc(card, progress=progress, say=say, device=device)
    print_summary(results)


def _card_executor(card_file: Path | None) -> str:
    """The executor name the card file asks for (``iterative`` when it names none)."""
    import yaml

    data = yaml.safe_load(card_file.read_text()) if card_file is not None and card_file.is_file() else None
    section = data.get("executor") if isinstance(data, dict) else None
    return str(section.get("name", "iterative")) if isinstance(section, dict) else "iterative"


def print_summary(results: dict[str, Any]) -> None:
    from rich.table import Table

    from hepadv.cli.console import console
    from hepadv.evaluation.replicas import format_pm

    flow = Table(title=f"Cutflow, selection {results['selection']}")
    samples = list(results["cutflow"])
    flow.add_column("cut")
    for s in samples:
        flow.add_column(s, justify="right")
    cuts = list(next(iter(results["cutflow"].values()), {}))
    for cut in cuts:
        flow.add_row(cut, *(f"{results['cutflow'][s].get(cut, 0):,}" for s in samples))
    console.print(flow)
    if "data" not in results["cutflow"]:
        console.print("MC only: no Data/MC distances", highlight=False)
        _print_rate(results)
        return
    table = Table(title="KL(data || MC) ± std per tagger output; floor: expected for identical parents, "
                        "z = (KL - floor) / its spread there (*: KL outside its quadratic regime, z = (KL - floor)"
                        " / std); JS distances in results.json")
    shown = {t: v for t, v in results["divergences"].items() if "@e" not in t}
    table.add_column("tagger", no_wrap=True, min_width=max([6, *(len(t) for t in shown)]))
    table.add_column("MC", no_wrap=True, min_width=max([5, *(len(v) for v in results["variations"])]))
    outputs: list[str] = []
    for per_output in results["divergences"].values():
        outputs += [o for o in per_output if o not in outputs]
    rows: list[list[str]] = []
    for tagger, per_output in shown.items():  # per-epoch numbers are in results.json and the KL-vs-epoch plot
        variations = next(iter(per_output.values()), {})
        for variation in variations:
            cells, floors = [], []
            for o in outputs:
                d = per_output.get(o, {}).get(variation) or {}
                stat = d.get("kl_stat") or {}
                cells.append(format_pm(d.get("kl"), stat.get("std")))
                rough = "" if stat.get("smooth", True) else "*"
                floors.append("-" if stat.get("floor") is None else
                              f"{format_pm(stat['floor'])} (z {_z(stat.get('z'))}{rough})")
            rows.append([tagger, variation, *cells])
            if any(f != "-" for f in floors):
                rows.append(["", "floor", *floors])
    for o, width in zip(outputs, _widths(rows, 2, outputs), strict=True):
        table.add_column(o, justify="right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    _print_wide(table)
    _print_comparisons(results, outputs)
    _print_rate(results)


def _z(z: float | None) -> str:
    return "-" if z is None else f"{z:+.1f}"


def _widths(rows: list[list[str]], first: int, outputs: list[str]) -> list[int]:
    return [max([6, len(o), *(len(r[first + i]) for r in rows)]) for i, o in enumerate(outputs)]


def _print_wide(table: Any) -> None:
    from hepadv.cli.console import console

    needed = sum(c.min_width or 0 for c in table.columns) + 3 * len(table.columns) + 1
    width = console.width  # numbers are never cut: the console is widened for the table (print(width=...)
    console.width = max(width, needed)  # collapses a column of wide tables in rich 14)
    try:
        console.print(table, crop=False)
    finally:
        console.width = width


def _print_comparisons(results: dict[str, Any], outputs: list[str]) -> None:
    """Paired KL differences other - reference (same events, same replicas), best checkpoints only."""
    from rich.table import Table

    from hepadv.evaluation.replicas import format_pm

    shown = [c for c in results.get("comparisons", []) if "@e" not in c["other"]]
    if not shown:
        return
    table = Table(title="KL(other) - KL(reference) ± std, paired on the same events (negative: other closer to "
                        "data); z = (difference - floor) / std")
    table.add_column("other - reference", no_wrap=True,
                     min_width=max(len(f"{c['other']} - {c['reference']}") for c in shown))
    table.add_column("MC", no_wrap=True, min_width=max([3, *(len(v) for v in results["variations"])]))
    rows = []
    for comp in shown:
        variations = next(iter(comp["outputs"].values()), {})
        for variation in variations:
            cells = []
            for o in outputs:
                d = (comp["outputs"].get(o, {}).get(variation) or {}).get("kl") or {}
                cells.append("-" if d.get("difference") is None else
                             f"{format_pm(d['difference'], d.get('std'))} (z {_z(d.get('z'))})")
            rows.append([f"{comp['other']} - {comp['reference']}", variation, *cells])
    for o, width in zip(outputs, _widths(rows, 2, outputs), strict=True):
        table.add_column(o, justify="right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    _print_wide(table)


def _print_rate(results: dict[str, Any]) -> None:
    from hepadv.cli.console import console

    rate = results.get("events_per_s")
    console.print(f"{sum(results['n_events'].values()):,} events in {results['wall_s']:.1f} s"
                  + (f" ({rate:,.0f} events/s, {results['executor']})" if rate else ""), highlight=False)
    if "output" in results:
        console.print(f"results: {results['output']}/results.json   plots: {results['output']}/plots", highlight=False)
