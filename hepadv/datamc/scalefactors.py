"""``derive_scale_factors(cards)``: the Python API behind ``hepadv sf`` (thesis app. A.5.2).

Order of work: run each Data/MC card with ``run_datamc`` (the three flavour-enriched selections; chunks a
previous ``hepadv datamc`` left in the output folder are reused, so this costs a merge when nothing changed;
``from_saved`` skips it and reads the folders as they are), read each selection's CvsL x CvsB histograms
(``sfhists``), merge them into the coarse grid, fit every tagger (``sffit``), then write under ``RUN/sf/``:
``scale_factors.json`` (correctionlib, one correction per tagger), ``results.json`` (factors, uncertainties,
flags, convergence, KL before/after per selection) and ``plots/`` (figs. A.20/A.21 and a comparison), staged
and swapped in as one folder (``hepadv.runs.outputs.publish_dir``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepadv.cards.datamc import DataMCCard
from hepadv.datamc.sffit import (
    ENRICHES,
    GROUPS,
    SF_FLAVOURS,
    FitSettings,
    Grid,
    SelectionHists,
    SFResult,
    fit_scale_factors,
)
from hepadv.datamc.sfhists import SF_INPUTS, SFInputs, read_sf_inputs
from hepadv.errors import HepadvError
from hepadv.io import write_json
from hepadv.progress import Progress, as_progress

CORRECTION_FILE = "scale_factors.json"
RESULTS_FILE = "results.json"


def sf_dir(run_dir: Path) -> Path:
    """Where the scale factors of a run go: ``RUN/sf``."""
    from hepadv.runs.layout import RunLayout

    return RunLayout(run_dir).sf


@dataclass
class SFOptions:
    """What to fit: MC variation, taggers (None: every best checkpoint and stored tagger), grid, fit settings."""

    variation: str = "raw"
    taggers: list[str] | None = None
    grid: Grid = field(default_factory=Grid)
    settings: FitSettings = field(default_factory=FitSettings)
    from_saved: bool = False
    output: Path | None = None
    plots: bool = True


@dataclass
class _Selection:
    name: str
    enriches: str
    folder: Path
    inputs: SFInputs
    run_dir: Path | None


def derive_scale_factors(cards: list[DataMCCard], options: SFOptions | None = None, *,
                         progress: Progress | None = None, device: str | None = None) -> dict[str, Any]:
    """Fit CvsL x CvsB scale factors per flavour from the selections of ``cards``; returns the results."""
    options = options or SFOptions()
    progress = as_progress(progress)
    t0 = time.perf_counter()
    _check_flavours([card.selection.name for card in cards])  # before any processing
    selections = [_selection(card, options, progress, device) for card in cards]
    taggers = _taggers(selections, options.taggers)
    fits: dict[str, SFResult] = {}
    per_tagger: dict[str, Any] = {}
    for key in taggers:
        coarse = [selection_hists(s, key, options.variation, options.grid) for s in selections]
        result = fit_scale_factors(coarse, options.settings, options.grid)
        fits[key] = result
        per_tagger[key] = {**result.to_json(), "agreement": _agreement(selections, key, options, result)}
        if not result.converged:
            progress.note(f"{key}: the fit did not converge in {options.settings.max_iterations} iterations; "
                "the bins still moving are flagged not_converged")
    run_dir = next((s.run_dir for s in selections if s.run_dir is not None), None)
    out = Path(options.output) if options.output is not None else sf_dir(run_dir or Path("runs"))
    from hepadv.datamc.sfcorrection import correction_name, write_correction_set
    from hepadv.runs.outputs import publish_dir

    results = {
        "selections": {s.name: {"enriches": s.enriches, "datamc": str(s.folder)} for s in selections},
        "variation": options.variation,
        "settings": {"min_events": options.settings.min_events, "tolerance": options.settings.tolerance,
                     "max_iterations": options.settings.max_iterations, "normalise": options.settings.normalise},
        "corrections": {key: correction_name(key) for key in taggers},
        "taggers": per_tagger,
        "correction_file": CORRECTION_FILE,
    }
    from hepadv.runs.lock import run_lock

    # one writer at a time: the run folder's lock (the output's parent when the taggers come from no run)
    with run_lock(run_dir or out.parent, say=progress.note), publish_dir(out) as staging:
        write_correction_set(fits, staging / CORRECTION_FILE,
                             "hepadv CvsL x CvsB shape scale factors (thesis app. A.5.2)",
                             {key: _describe(key, options, selections) for key in taggers})
        plots: list[Path] = []
        if options.plots:
            from hepadv.plotting.scalefactors import plot_scale_factors

            plots = plot_scale_factors(fits, staging / "plots")
        results["plots"] = [str(p.relative_to(staging)) for p in plots]
        results["wall_s"] = time.perf_counter() - t0
        write_json(staging / RESULTS_FILE, results)
    results["output"] = str(out)
    return results


def _selection(card: DataMCCard, options: SFOptions, progress: Progress, device: str | None) -> _Selection:
    from hepadv.datamc.run import output_dir

    name = card.selection.name
    run_dir = _run_dir(card, progress)
    if options.from_saved:
        folder = output_dir(card, name, run_dir)
    else:
        from hepadv.datamc.run import run_datamc

        progress.note(f"selection {name} ({ENRICHES[name]}-enriched): card {card.name}")
        folder = Path(run_datamc(card, progress=progress, device=device)["output"])
    return _Selection(name, ENRICHES[name], folder, read_sf_inputs(folder / SF_INPUTS), run_dir)


def _run_dir(card: DataMCCard, progress: Progress) -> Path | None:
    """The first model run of the card, without training anything (``run_datamc`` trains when needed)."""
    for section in card.taggers:
        if section.run is not None:
            return Path(section.run)
        if section.card is not None:
            from hepadv.cards import load_card

            return load_card(section.card, progress=progress).output_dir()
    return None


def _check_flavours(names: list[str]) -> None:
    """One card per flavour-enriched selection, each one the fit knows."""
    seen: dict[str, str] = {}
    for name in names:
        if name not in ENRICHES:
            raise HepadvError(f"selection {name!r} enriches no flavour the fit knows; "
                              f"use {', '.join(f'{k} ({v})' for k, v in ENRICHES.items())}")
        if ENRICHES[name] in seen:
            raise HepadvError(f"two cards select {name!r}, which enriches {ENRICHES[name]} jets; "
                              "give one card per selection (dy, wc, ttsemilep)")
        seen[ENRICHES[name]] = name
    missing = [f"{sel} ({f})" for sel, f in ENRICHES.items() if f not in seen]
    if missing:
        raise HepadvError(f"the fit needs one card per flavour; missing {', '.join(missing)}")


def _taggers(selections: list[_Selection], wanted: list[str] | None) -> list[str]:
    common = [t for t in selections[0].inputs.taggers if all(t in s.inputs.taggers for s in selections[1:])]
    if wanted is None:
        chosen = [t for t in common if "@e" not in t]  # best checkpoints and stored taggers
        if not chosen:
            raise HepadvError("no tagger with CvsL and CvsB is in all three selections "
                              f"({', '.join(f'{s.name}: {len(s.inputs.taggers)}' for s in selections)} taggers)")
        return chosen
    for t in wanted:
        if t not in common:
            raise HepadvError(f"tagger {t!r} is not in all three selections; available: {', '.join(common) or 'none'}")
    return list(wanted)


def selection_hists(s: _Selection, tagger: str, variation: str, grid: Grid) -> SelectionHists:
    """One selection's data and MC per scale-factor flavour on ``grid`` (totals over every jet, flows included)."""
    edges_l, edges_b = s.inputs.edges["CvsL"], s.inputs.edges["CvsB"]
    data, data_var = s.inputs.select(tagger, "data", "raw", ("data",))
    mc = {f: s.inputs.select(tagger, "mc", variation, GROUPS[f]) for f in SF_FLAVOURS}
    if not data.sum() > 0:
        raise HepadvError(f"{s.folder}: selection {s.name} has no data jets; the fit needs data in every selection")
    return SelectionHists(
        s.name, s.enriches, grid.rebin(data, edges_l, edges_b), grid.rebin(data_var, edges_l, edges_b),
        {f: grid.rebin(v, edges_l, edges_b) for f, (v, _) in mc.items()},
        {f: grid.rebin(w, edges_l, edges_b) for f, (_, w) in mc.items()},
        float(data.sum()), float(sum(v.sum() for v, _ in mc.values())),
        float(data_var.sum()), float(sum(w.sum() for _, w in mc.values())))


def _agreement(selections: list[_Selection], key: str, options: SFOptions, result: SFResult) -> dict[str, Any]:
    """Per selection, KL on the filled (fine) grid before and after the factors, and its statistical floor."""
    from hepadv.datamc.sffit import agreement

    out = {}
    for s in selections:
        fine_grid = Grid(tuple(s.inputs.edges["CvsL"]), tuple(s.inputs.edges["CvsB"]))
        fine = selection_hists(s, key, options.variation, fine_grid)
        sf_fine = {f: options.grid.expand(result.sf[f], s.inputs.edges["CvsL"], s.inputs.edges["CvsB"])
                   for f in SF_FLAVOURS}
        out[s.name] = agreement(fine, sf_fine)
    return out


def _describe(key: str, options: SFOptions, selections: list[_Selection]) -> str:
    sels = ", ".join(f"{s.name} ({s.enriches})" for s in selections)
    return (f"hepadv CvsL x CvsB shape scale factors of tagger {key} (MC {options.variation}) from {sels}; "
            f"iterative fit (tolerance {options.settings.tolerance:g}), bins with < {options.settings.min_events:g} "
            "effective entries, non-positive or unconverged fits hold 1.0; up/down: statistical; "
            "undefined discriminators (< 0): 1.0")

