"""``hepadv datamc``: Data/MC agreement of taggers in a flavour-enriched selection (thesis app. A.5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hepadv.cli.options import DeviceOption, ProgressOption, SetOption
from hepadv.cli.report import ReportOption, refresh_report, run_dir_of


def register(app: typer.Typer) -> None:
    app.command("datamc")(datamc_command)


def datamc_command(
    card_file: Path | None = typer.Argument(None, metavar="CARD", show_default=False,
                                            help="Data/MC card \\[default: cards/datamc_SELECTION.yaml]."),
    selection: str | None = typer.Option(None, "--selection", "-s", metavar="NAME",
                                         help="dy, wc, ttsemilep or a plugin's."),
    executor: str | None = typer.Option(None, "--executor", "-e", metavar="NAME",
                                        help="iterative, futures, dask, slurm or htcondor."),
    scheduler: str | None = typer.Option(None, "--scheduler", metavar="ADDRESS",
                                         help="dask scheduler address \\[default: a local cluster]."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, max=10_000, metavar="N",
                                       help="Workers, or batch jobs (slurm, htcondor)."),
    chunksize: int | None = typer.Option(None, "--chunksize", min=1, metavar="N", help="Events per chunk."),
    limit: int | None = typer.Option(None, "--limit", min=1, metavar="N", help="At most N chunks per sample."),
    skip_bad_files: bool = typer.Option(False, "--skip-bad-files",
                                        help="Report and skip unreadable files \\[default: the card's]."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR",
                                       help="Output folder \\[default: RUN/datamc/NAME]."),
    set_: list[str] = SetOption,
    device: str | None = DeviceOption,
    progress: bool = ProgressOption,
    report: bool = ReportOption,
) -> None:
    """Histogram tagger outputs in data and MC, with KL(data || MC) per output, epoch and MC distortion."""
    from hepadv.cards.datamc import DataMCCard
    from hepadv.cards.load import load, read_data
    from hepadv.cards.packaged import packaged_cards
    from hepadv.cli.progress import cli_progress
    from hepadv.datamc.run import run_datamc
    from hepadv.errors import CardError

    reporter = cli_progress(progress)
    if card_file is None:
        guess = Path("cards") / f"datamc_{selection or 'dy'}.yaml"
        if guess.is_file() or guess.stem in packaged_cards():
            card_file = guess
    if selection is not None:
        from hepadv import get_selection

        get_selection(selection)  # unknown names: one line listing the known selections
    if scheduler is not None and (executor or "dask") != "dask":
        raise CardError("--scheduler needs --executor dask")
    source = read_data(card_file, reporter)
    data = source.data if isinstance(source.data, dict) else {}
    overrides: list[str | tuple[str, object]] = []
    if selection is not None and _name(data.get("selection"), "dy") != selection:
        overrides.append(("selection", {"name": selection}))  # another selection: its default cuts
    name = executor or ("dask" if scheduler else None)
    if name is not None and name != _name(data.get("executor"), "iterative"):
        overrides.append(("executor", {"name": name, "params": {}}))  # another executor: its own defaults
    for key, value in (("executor.params.workers", workers), ("executor.params.scheduler", scheduler),
                       ("chunksize", chunksize), ("max_chunks", limit), ("skip_bad_files", skip_bad_files or None),
                       ("output", None if output is None else str(output))):
        if value is not None:
            overrides.append((key, value))
    card = load(source, "datamc", [*overrides, *(set_ or [])], progress=reporter)
    assert isinstance(card, DataMCCard)
    results = run_datamc(card, progress=reporter, device=device)
    print_summary(results)
    refresh_report(run_dir_of(results.get("output")), report)


def _name(section: object, default: str) -> str:
    """The component name a card section gives (``default`` when it gives none)."""
    return str(section.get("name", default)) if isinstance(section, dict) else default


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
