"""Every Data/MC selection: cutflow, KL (and JS) tables with uncertainties where stored, KL vs epoch, stacked plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hepadv.report.content import (
    Block,
    Details,
    Facts,
    Note,
    Section,
    Table,
    figures,
    fmt,
    get,
    num,
    study_blocks,
    text,
)
from hepadv.report.layout import ReportPaths


def cutflow_table(r: dict[str, Any], source: str, selection: str) -> Table | None:
    samples = list(r.get("cutflow") or {})
    cuts = list(dict.fromkeys(c for s in samples for c in r["cutflow"][s]))
    if not cuts:
        return None
    rows = [[text(c), *(num(r, ["cutflow", s, c]) for s in samples)] for c in cuts]
    return Table(["cut", *samples], rows, source=source, id=f"cutflow-{selection}", caption="Cutflow (events)")


def divergence_table(r: dict[str, Any], source: str, selection: str, measure: str) -> Table | None:
    """KL(data || MC) or the JS distance per tagger (best checkpoints), MC variation and output, ``± std`` from the
    bootstrap replicas (``kl_stat``/``js_stat``) or any uncertainty stored beside the value."""
    div = {t: per for t, per in (r.get("divergences") or {}).items() if "@e" not in t}
    outputs = list(dict.fromkeys(o for per in div.values() for o in per))
    if not outputs:
        return None
    rows = []
    for tagger, per_output in div.items():
        variations = list(dict.fromkeys(v for per_var in per_output.values() for v in per_var))
        for variation in variations:
            cells = []
            for o in outputs:
                key = ["divergences", tagger, o, variation, measure]
                stat = [*key[:-1], f"{measure}_stat", "std"]
                cells.append(num(r, key, err_key=stat if get(r, stat) is not None else None))
            rows.append([text(tagger), text(variation), *cells])
    name = "KL(data || MC)" if measure == "kl" else "Jensen-Shannon distance"
    return Table(["tagger", "MC", *outputs], rows, source=source, id=f"{measure}-{selection}",
                 caption=f"{name} per tagger output (± its bootstrap standard deviation)")


def significance_table(r: dict[str, Any], source: str, selection: str) -> Table | None:
    """Each KL against its floor (the value identical parents give): floor and z per tagger, variation, output."""
    div = {t: per for t, per in (r.get("divergences") or {}).items() if "@e" not in t}
    outputs = list(dict.fromkeys(o for per in div.values() for o in per))
    rows = []
    for tagger, per_output in div.items():
        for variation in dict.fromkeys(v for per_var in per_output.values() for v in per_var):
            base = ["divergences", tagger]
            if all(get(r, [*base, o, variation, "kl_stat", "floor"]) is None for o in outputs):
                continue
            cells = [c for o in outputs for c in (num(r, [*base, o, variation, "kl_stat", "floor"]),
                                                  num(r, [*base, o, variation, "kl_stat", "z"], 1))]
            rows.append([text(tagger), text(variation), *cells])
    if not rows:
        return None
    head = ["tagger", "MC", *(h for o in outputs for h in (f"{o} floor", f"{o} z"))]
    return Table(head, rows, source=source, id=f"kl-z-{selection}",
                 caption="KL against its floor (identical parents): z = (KL - floor) / spread")


def comparison_table(r: dict[str, Any], source: str, selection: str) -> Table | None:
    """Paired differences of KL between models on the same events and replicas: difference ± std and z."""
    rows = []
    for i, comp in enumerate(r.get("comparisons") or []):
        for output, per_var in (comp.get("outputs") or {}).items():
            for variation, measures in per_var.items():
                if not isinstance(measures.get("kl"), dict):
                    continue
                key = ["comparisons", i, "outputs", output, variation, "kl"]
                rows.append([text(f"{comp['other']} - {comp['reference']}"), text(output), text(variation),
                             num(r, [*key, "difference"], sign=True, err_key=[*key, "std"]), num(r, [*key, "z"], 1)])
    if not rows:
        return None
    return Table(["KL difference", "output", "MC", "difference", "z"], rows, source=source,
                 id=f"kl-paired-{selection}",
                 caption="Paired KL differences (negative: the other model is closer to data)")


def kl_epoch_table(r: dict[str, Any], source: str, selection: str) -> Table | None:
    """The numbers of the KL-vs-epoch figure: ``{epoch, kl, std, floor}`` points (``[epoch, kl]`` pairs in older
    results), ``± std`` where the replicas give one."""
    series = r.get("kl_vs_epoch") or {}

    def epoch_of(p: Any) -> Any:
        return p.get("epoch") if isinstance(p, dict) else (p[0] if isinstance(p, list) and p else None)

    epochs = sorted({e for by_var in series.values() for by_out in by_var.values() for pts in by_out.values()
                     for p in pts if (e := epoch_of(p)) is not None})
    rows = []
    for variant, by_var in series.items():
        for variation, by_out in by_var.items():
            for output, points in by_out.items():
                at = {epoch_of(p): i for i, p in enumerate(points) if epoch_of(p) is not None}
                key = ["kl_vs_epoch", variant, variation, output]
                row = [text(variant), text(variation), text(output)]
                for e in epochs:
                    i = at.get(e)
                    if i is None:
                        row.append(text("", "num"))
                    elif isinstance(points[i], dict):
                        err = [*key, i, "std"] if points[i].get("std") is not None else None
                        row.append(num(r, [*key, i, "kl"], err_key=err))
                    else:
                        err = [*key, i, 2] if len(points[i]) > 2 else None
                        row.append(num(r, [*key, i, 1], err_key=err))
                rows.append(row)
    if not rows:
        return None
    return Table(["variant", "MC", "output", *(f"epoch {e}" for e in epochs)], rows, source=source,
                 id=f"kl-epoch-{selection}", caption="KL(data || MC) at every epoch checkpoint")


def _plot_groups(paths: ReportPaths, study: Path, r: dict[str, Any]) -> dict[str, list[Path]]:
    """Plots by sub-folder (one per tagger, ``controls``, and the top level)."""
    plots = paths.datamc_plots(study)
    listed = [study / p for p in r.get("plots") or []]  # results.json lists them relative to the study folder
    found = listed or sorted(plots.rglob("*.png"))
    groups: dict[str, list[Path]] = {}
    for p in found:
        rel = p.relative_to(plots) if p.is_relative_to(plots) else Path(p.name)
        groups.setdefault(rel.parts[0] if len(rel.parts) > 1 else "", []).append(p)
    return groups


def facts(r: dict[str, Any]) -> Facts:
    def per_sample(key: str) -> str:
        return ", ".join(f"{s} {fmt(n)}" for s, n in (r.get(key) or {}).items()) or "?"

    chunks = r.get("chunks") or {}
    rate = r.get("events_per_s")
    return Facts([
        ("selection", f"{r.get('selection', '?')} {json.dumps(r.get('selection_params') or {})}"),
        ("input", f"{r.get('origin', '?')}: " + "; ".join(f"{s}: {len(fs)} file(s)" for s, fs in
                                                         (r.get("files") or {}).items())),
        ("events", per_sample("n_events")),
        ("selected jets", per_sample("n_jets")),
        ("MC scaled to data by", fmt(r.get("mc_scale_to_data"))),
        ("MC variations", ", ".join(f"{k}: {v}" for k, v in (r.get("distortions") or {}).items()) or "raw only"),
        ("wall time", f"{fmt(r.get('wall_s'), 1)} s, {r.get('executor', '?')}"
         + (f", {fmt(rate, 0)} events/s" if isinstance(rate, (int, float)) else "")
         + (f"; chunks {chunks.get('total', '?')}, reused {chunks.get('reused', 0)}" if chunks else "")),
    ])


def datamc_section(paths: ReportPaths) -> Section | None:
    def block(study: Path, r: dict[str, Any], source: str) -> Block:
        sel = study.name
        items: list[Any] = [facts(r)]
        items += [Note(n, "warn") for n in r.get("notes") or []]
        if r.get("skipped_files"):
            items.append(Note(f"skipped files: {json.dumps(r['skipped_files'])}", "warn"))
        cutflow = cutflow_table(r, source, sel)
        if cutflow:
            items.append(cutflow)
        if "data" not in (r.get("cutflow") or {}):
            items.append(Note("MC only: no Data/MC distances"))
        elif kl := divergence_table(r, source, sel, "kl"):
            items.append(kl)
            items += [t for t in (comparison_table(r, source, sel), ) if t is not None]
            z = significance_table(r, source, sel)
            if z is not None:
                items.append(Details("KL against its floor (z)", [z]))
        groups = _plot_groups(paths, study, r)
        top = figures(groups.pop("", []), paths.run, large=True)
        table = kl_epoch_table(r, source, sel)
        if top or table:
            items += [*([top] if top else []), *([Details("KL vs epoch (table)", [table])] if table else [])]
        js = divergence_table(r, source, sel, "js")
        if js:
            items.append(Details("Jensen-Shannon distances", [js]))
        controls = groups.pop("controls", [])
        for i, (tagger, plots) in enumerate(groups.items()):
            found = figures(plots, paths.run)
            if found:
                items.append(Details(f"{tagger}: stacked plots with Data/MC ratio", [found], open=i == 0))
        found = figures(controls, paths.run)
        if found:
            items.append(Details("Control plots", [found]))
        return Block(f"Selection {r.get('selection', sel)}", items, id=f"datamc-{sel}")

    blocks = study_blocks(paths, paths.datamc(), paths.datamc_results, "a Data/MC result", block)
    return Section("datamc", "Data versus simulation", blocks) if blocks else None
