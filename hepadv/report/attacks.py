"""Every ``hepadv attack`` run: fooling ratio, mean JSD, dFN, AUC raw -> attacked, histograms, correlations."""

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
    load_json,
    num,
    study_blocks,
    text,
)
from hepadv.report.layout import ReportPaths

TOP_FEATURES = 5


def fr_table(s: dict[str, Any], source: str, study: str) -> Table:
    variants = s.get("variants") or {}
    disco = any("dfn_disco" in v for v in variants.values())
    columns = ["variant", "fooling ratio", "mean JSD", "dFN", *(["dFN (distance corr.)"] if disco else []),
               "seconds"]
    rows = [[text(v), num(s, ["variants", v, "fooling_ratio"], 3), num(s, ["variants", v, "mean_jsd"]),
             num(s, ["variants", v, "dfn"]), *([num(s, ["variants", v, "dfn_disco"])] if disco else []),
             num(s, ["variants", v, "seconds"], 2)] for v in variants]
    first = next(iter(variants.values()), {})
    return Table(columns, rows, source=source, id=f"fr-{study}",
                 caption=f"Fooling ratio (fooled: {first.get('fooled_definition', '?')}) and visibility")


def per_class_table(s: dict[str, Any], source: str, study: str) -> Table | None:
    variants = s.get("variants") or {}
    classes = list(dict.fromkeys(c for v in variants.values() for c in (v.get("fooling_ratio_per_class") or {})))
    if not classes:
        return None
    rows = [[text(v), *(num(s, ["variants", v, "fooling_ratio_per_class", c], 3) for c in classes)]
            for v in variants]
    return Table(["variant", *classes], rows, source=source, id=f"fr-class-{study}",
                 caption="Fooling ratio per true class")


def auc_table(s: dict[str, Any], source: str, study: str) -> Table | None:
    variants = s.get("variants") or {}
    discs = list(dict.fromkeys(d for v in variants.values() for d in (v.get("auc") or {})))
    if not discs:
        return None
    columns = ["disc."]
    for v in variants:
        columns += [f"{v} raw", f"{v} attacked", f"{v} Δ"]
    rows = []
    for d in discs:
        row = [text(d)]
        for v in variants:
            base = ["variants", v, "auc", d]
            row += [num(s, [*base, "raw"]), num(s, [*base, "attacked"]), num(s, [*base, "delta"], sign=True)]
        rows.append(row)
    return Table(columns, rows, source=source, id=f"attack-auc-{study}", caption="AUC raw → attacked")


def regions_table(s: dict[str, Any], source: str, study: str) -> Table | None:
    variants = {v: e["regions"] for v, e in (s.get("variants") or {}).items() if e.get("regions")}
    if not variants:
        return None
    names = list(dict.fromkeys(r for regions in variants.values() for r in regions))
    rows = [[text(v), *(num(s, ["variants", v, "regions", r, "fooling_ratio"], 3) for r in names)] for v in variants]
    return Table(["variant", *(f"FR {r}" for r in names)], rows, source=source, id=f"regions-{study}",
                 caption="Fooling ratio per region (JSD and dFN above: control region)")


def stale(m: dict[str, Any], variant: str, current: dict[str, dict[str, Any]]) -> Note | None:
    """A warning when the attacked model is not the run's best model any more (retrained, resumed, overwritten)."""
    now, then = current.get(variant) or {}, m.get("provenance") or {}
    if not now or "error" in now or not then:
        return None
    if then.get("card_hash") == now.get("card_hash") and m.get("epoch") == now.get("epoch"):
        return None
    return Note(f"{variant}: attacked the model of epoch {m.get('epoch')} (card hash {then.get('card_hash')}); the "
                f"run's best {variant} model is now epoch {now.get('epoch')} (card hash {now.get('card_hash')}): these "
                "numbers describe the earlier model", "warn")


def variant_items(paths: ReportPaths, study: Path, variant: str, current: dict[str, dict[str, Any]]) -> list[Any]:
    """A warning if the attacked model was replaced since, the variant's plots, then what its own metrics.json
    adds: checkpoint, bins, the most visible features."""
    plots = paths.attack_variant_plots(study, variant)
    found = figures(sorted(plots.glob("*.png")) if plots.is_dir() else [], paths.run, title=variant, large=True)
    out: list[Any] = [found] if found else []
    path = paths.attack_variant_metrics(study, variant)
    if not path.is_file():
        return out
    m, error = load_json(path)
    if error or not isinstance(m, dict):
        return [*out, Note(error or f"{path.name}: not an attack result", "warn")]
    warning = stale(m, variant, current)
    items: list[Any] = [Facts([("checkpoint", f"{m.get('checkpoint', '?')} (epoch {m.get('epoch', '?')})"),
                               ("events changed", f"{m.get('n_events_changed', '?')} of {m.get('n_events', '?')}"),
                               ("histogram bins", str(m.get("bins", "?")))])]
    jsd = m.get("jsd_per_feature") or {}
    top = sorted((f for f in jsd if isinstance(jsd[f], (int, float))), key=lambda f: jsd[f], reverse=True)
    if top:
        rows = [[text(f), num(m, ["jsd_per_feature", f])] for f in top[:TOP_FEATURES]]
        items.append(Table(["feature", "JSD"], rows, source=paths.relative(path), id=f"jsd-{study.name}-{variant}",
                           caption=f"Largest per-feature JSD ({len(jsd)} features in {path.name})"))
    return [*([warning] if warning else []), *out, Details(f"{variant}: checkpoint and most visible features", items)]


def attacks_section(paths: ReportPaths) -> Section | None:
    from hepadv.report.provenance import checkpoint_provenance

    current = checkpoint_provenance(paths)

    def block(study: Path, s: dict[str, Any], source: str) -> Block:
        items: list[Any] = [Facts([("attack", f"{s.get('plugin', '?')} {json.dumps(s.get('params') or {})}"),
                                   ("events", f"{fmt(s.get('n_events'))} of the {s.get('split', '?')} split"),
                                   ("folder", source.rsplit("/", 1)[0])])]
        items += [t for t in (fr_table(s, source, study.name), per_class_table(s, source, study.name),
                              auc_table(s, source, study.name), regions_table(s, source, study.name)) if t]
        for v, entry in (s.get("variants") or {}).items():
            if entry.get("constant_features"):
                items.append(Note(f"{v}: constant feature(s) {', '.join(entry['constant_features'])}: Pearson "
                                  "correlation undefined, left out of dFN", "warn"))
        for v in s.get("variants") or {}:
            items += variant_items(paths, study, v, current)
        return Block(f"{s.get('plugin', study.name)} ({study.name})", items, id=f"attack-{study.name}")

    blocks = study_blocks(paths, paths.attacks(), paths.attack_summary, "an attack summary", block)
    return Section("attacks", "Attacks", blocks) if blocks else None
