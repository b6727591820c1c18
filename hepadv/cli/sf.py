"""``hepadv sf``: CvsL x CvsB shape scale factors per flavour from dy, wc and ttsemilep (thesis app. A.5.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hepadv.cli.options import DeviceOption, ProgressOption, SetOption

#: The shipped Data/MC cards, one per flavour-enriched selection, used when no card is given.
DEFAULT_CARDS: tuple[str, ...] = ("cards/datamc_dy.yaml", "cards/datamc_wc.yaml", "cards/datamc_ttsemilep.yaml")


def register(app: typer.Typer) -> None:
    app.command("sf")(sf_command)


def sf_command(
    cards: list[Path] | None = typer.Argument(None, metavar="CARD...", show_default=False,
                                              help="Data/MC cards, one per selection (dy, wc, ttsemilep) \\[default: "
                                                   "cards/datamc_dy.yaml, cards/datamc_wc.yaml, "
                                                   "cards/datamc_ttsemilep.yaml, or the packaged ones]."),
    variation: str = typer.Option("raw", "--variation", metavar="NAME",
                                  help="MC variation to calibrate (raw or a distortion)."),
    taggers: list[str] | None = typer.Option(None, "--tagger", "-t", metavar="KEY",
                                             help="Tagger key (repeat); default every best checkpoint and stored "
                                                  "tagger, e.g. nominal@best, adversarial@best."),
    cvsl_edges: str | None = typer.Option(None, "--cvsl-edges", metavar="EDGES",
                                          help="Comma-separated CvsL edges from 0 to 1, multiples of 0.05 "
                                               "(default 0.1 steps)."),
    cvsb_edges: str | None = typer.Option(None, "--cvsb-edges", metavar="EDGES",
                                          help="Comma-separated CvsB edges (as --cvsl-edges)."),
    min_events: float = typer.Option(10.0, "--min-events", min=0, metavar="N",
                                     help="Effective entries below which a bin keeps SF = 1 (few_events)."),
    tolerance: float = typer.Option(1e-6, "--tolerance", min=0, metavar="X",
                                    help="Stop when no factor changes by more than this fraction in one iteration."),
    max_iterations: int = typer.Option(1000, "--max-iterations", min=1, metavar="N",
                                       help="Iterations before giving up."),
    normalise: bool = typer.Option(True, "--normalise/--no-normalise",
                                   help="Normalise MC to data in each selection before the fit."),
    from_saved: bool = typer.Option(False, "--from-saved", help="Read RUN/datamc/SELECTION as it is instead of "
                                                                "running the Data/MC cards."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="DIR", help="Output folder, replaced as a whole "
                                                                     "(default RUN/sf)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the scale-factor maps."),
    set_: list[str] = SetOption,
    device: str | None = DeviceOption,
    progress: bool = ProgressOption,
) -> None:
    """Derive per-flavour CvsL x CvsB scale factors (iterative fit) and write them as correctionlib JSON."""
    from hepadv.cards.datamc import DataMCCard
    from hepadv.cards.load import load
    from hepadv.cli.progress import cli_progress
    from hepadv.datamc.scalefactors import SFOptions, derive_scale_factors
    from hepadv.datamc.sffit import DEFAULT_EDGES, FitSettings, Grid

    reporter = cli_progress(progress)
    loaded: list[DataMCCard] = []
    for path in cards or [Path(c) for c in DEFAULT_CARDS]:  # a missing cards/NAME.yaml: the packaged card, said
        card = load(path, "datamc", list(set_ or []), progress=reporter)
        assert isinstance(card, DataMCCard)
        loaded.append(card)
    grid = Grid(_edges(cvsl_edges, "--cvsl-edges") or DEFAULT_EDGES,
                _edges(cvsb_edges, "--cvsb-edges") or DEFAULT_EDGES)
    options = SFOptions(variation=variation, taggers=list(taggers) if taggers else None, grid=grid,
                        settings=FitSettings(min_events=min_events, tolerance=tolerance, max_iterations=max_iterations,
                                             normalise=normalise),
                        from_saved=from_saved, output=output, plots=plots)
    results = derive_scale_factors(loaded, options, progress=reporter, device=device)
    print_summary(results)


def _edges(text: str | None, option: str) -> tuple[float, ...] | None:
    from hepadv.errors import CardError

    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise CardError(f"{option} {text!r}: expected comma-separated numbers, e.g. 0,0.2,0.4,0.6,0.8,1") from None


def print_summary(results: dict[str, Any]) -> None:
    from rich.table import Table

    from hepadv.cli.console import console

    table = Table(title=f"CvsL x CvsB scale factors (MC {results['variation']}): fitted bins, compatibility with 1")
    width = max([6, *(len(k) for k in results["taggers"])])
    for col in ("tagger", "flavour", "fitted", "chi2(SF=1)/ndf", "p-value", "iterations"):
        table.add_column(col, justify="left" if col in ("tagger", "flavour") else "right", no_wrap=True,
                         min_width=width if col == "tagger" else len(col))
    for key, r in results["taggers"].items():
        for f, d in r["flavours"].items():
            chi2 = f"{d['chi2_vs_1']:.0f}/{d['ndf']}" if d["ndf"] else "-"
            p = "-" if d["p_value_vs_1"] is None else f"{d['p_value_vs_1']:.2g}"
            its = f"{r['iterations']}" + ("" if r["converged"] else " (not converged)")
            table.add_row(key, f, f"{d['n_fitted']}/{d['n_bins']}", chi2, p, its)
    _print(table)
    kl = Table(title="KL(data || MC) on the filled 0.05 grid: before -> after the factors (floor +- spread for "
                     "identical parents)")
    kl.add_column("tagger", no_wrap=True, min_width=width)
    selections = list(results["selections"])
    for s in selections:
        kl.add_column(s, justify="right", no_wrap=True, min_width=35)
    for key, r in results["taggers"].items():
        cells = []
        for s in selections:
            a = r["agreement"][s]
            cells.append("-" if a["kl_before"] is None else
                         f"{a['kl_before']:.4f} -> {a['kl_after']:.4f} ({_floor(a)})")
        kl.add_row(key, *cells)
    _print(kl)
    out = results["output"]
    console.print(f"correctionlib: {out}/{results['correction_file']}   results: {out}/results.json"
                  + (f"   plots: {out}/plots" if results["plots"] else ""), highlight=False)


def _print(table: Any) -> None:
    """Print a table whole: its numbers are never cut, however narrow the terminal."""
    from hepadv.cli.console import console

    needed = sum(c.min_width or 0 for c in table.columns) + 3 * len(table.columns) + 1
    console.print(table, width=max(console.width, needed), crop=False)


def _floor(a: dict[str, Any]) -> str:
    return "-" if a["kl_floor"] is None else f"{a['kl_floor']:.4f} +- {a['kl_floor_std']:.4f}"
