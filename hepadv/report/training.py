"""Training and evaluation: loss curves, the AUC table with drops and drop ratios, ROC, susceptibility, transfer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hepadv.report.content import (
    Block,
    Cell,
    Details,
    Note,
    Section,
    Table,
    figures,
    get,
    load_json,
    num,
    text,
)
from hepadv.report.layout import ReportPaths

RAW = "raw"  # hepadv.evaluation.scoring.RAW, the key of the unattacked metrics (not imported: no torch here)
WORKING_POINTS = (("loose", "10 %"), ("medium", "1 %"), ("tight", "0.1 %"))


def attack_labels(m: dict[str, Any]) -> dict[str, str]:
    return {a["id"]: a.get("label", a["id"]) for a in m.get("attacks", []) if "id" in a}


def auc_table(m: dict[str, Any]) -> Table:
    """Per variant and discriminator: raw AUC, efficiencies, and per attack the AUC, its drop and drop ratio."""
    labels = attack_labels(m)
    comparison = m.get("comparison") or {}
    reference = comparison.get("reference")
    checks = comparison.get("checks") or {}
    columns = ["variant", "disc.", "AUC raw", *(f"eff @ {wp} mistag" for _, wp in WORKING_POINTS)]
    for label in labels.values():
        columns += [f"AUC {label}", f"drop {label}", f"drop ratio {label}"]
    rows = []
    for v, entry in (m.get("variants") or {}).items():
        for d in (get(entry, ["metrics", RAW]) or {}):
            base = ["variants", v, "metrics", RAW, d]
            row = [text(v), text(d), num(m, [*base, "auc"]),
                   *(num(m, [*base, "eff_at_mistag", wp], 3) for wp, _ in WORKING_POINTS)]
            for a in labels:
                row += [num(m, ["variants", v, "metrics", a, d, "auc"]),
                        num(m, ["comparison", "table", v, a, d, "delta"], sign=True), _ratio(m, v, a, d, reference,
                                                                                          checks)]
            rows.append(row)
    return Table(columns, rows, caption=f"Tagger performance on {m.get('n_test_jets', '?'):,} test jets",
                 source="metrics.json", id="auc",
                 note="drop: AUC under attack minus raw AUC. drop ratio: the variant's drop over the reference's "
                      f"({reference}); the papers expect <= 0.5 from adversarial training (green: met, red: "
                      "missed, n/a: the reference did not drop).")


def _ratio(m: dict[str, Any], variant: str, attack: str, disc: str, reference: str | None,
           checks: dict[str, Any]) -> Cell:
    if variant == reference:
        return text("reference", "ref")
    if variant not in checks:
        return text("")
    ok = get(checks, [variant, "attacks", attack, "drop_at_most_half", disc])
    cell = num(m, ["comparison", "checks", variant, "attacks", attack, "drop_ratio", disc], 2,
               cls="pass" if ok else "miss")
    cell.title = "drop ratio <= 0.5: " + ("met" if ok else "missed")
    return cell


def checks_table(m: dict[str, Any]) -> Table | None:
    """The papers' raw-performance check of every variant against the reference."""
    checks = get(m, ["comparison", "checks"]) or {}
    rows = []
    for v, c in checks.items():
        if "raw_auc_difference" not in c:
            continue
        ok = bool(c.get("raw_within_tolerance"))
        rows.append([text(v), text(c.get("reference", "")), text(c.get("primary", "")),
                     num(m, ["comparison", "checks", v, "raw_auc_difference"], sign=True),
                     text("yes" if ok else "no", "pass" if ok else "miss")])
    if not rows:
        return None
    return Table(["variant", "reference", "discriminator", "raw AUC difference", "within 0.01"], rows,
                 caption="Raw performance kept? (papers: within 0.01)", source="metrics.json", id="raw-check")


def history_tables(paths: ReportPaths, m: dict[str, Any]) -> list[Any]:
    """Per variant the epoch table of history.json (or of metrics.json when history.json is absent)."""
    items: list[Any] = []
    names = list(dict.fromkeys([*paths.variants(), *(m.get("variants") or {})]))
    for v in names:
        path = paths.variant_history(v)
        if path.is_file():
            h, error = load_json(path)
            source, prefix = paths.relative(path), []
        else:
            h, error = m, None
            source, prefix = "metrics.json", ["variants", v, "history"]
        if error:
            items.append(Note(error, "warn"))
            continue
        epochs = get(h, [*prefix, "epoch"]) or []
        if not epochs:
            continue
        cols = [("train_loss", "train loss", 5), ("val_loss", "val loss", 5), ("lr", "lr", 6),
                ("seconds", "seconds", 1), ("jets_per_second", "jets/s", 0)]
        rows = [[num(h, [*prefix, "epoch", i]), *(num(h, [*prefix, key, i], digits) for key, _, digits in cols)]
                for i in range(len(epochs))]
        seconds = get(h, [*prefix, "seconds"]) or []
        total = sum(s for s in seconds if isinstance(s, (int, float)))
        best = get(m, ["variants", v, "best_epoch"])
        items.append(Table(["epoch", *(c[1] for c in cols)], rows, source=source, id=f"history-{v}",
                           caption=f"{v}: {len(epochs)} epochs" + (f", best {best}" if best is not None else "")
                           + f", {total:.1f} s of training (sum of the epoch times)"))
    return items


def per_epoch_table(m: dict[str, Any]) -> Table | None:
    """AUC raw and under each attack at every epoch checkpoint (the numbers behind the susceptibility plots)."""
    labels = attack_labels(m)
    discs = m.get("discriminators") or []
    columns = ["variant", "epoch"]
    for d in discs:
        columns += [f"{d} raw", *(f"{d} {label}" for label in labels.values())]
    rows = []
    for v, entry in (m.get("variants") or {}).items():
        for i, _ in enumerate(entry.get("per_epoch") or []):
            row = [text(v), num(m, ["variants", v, "per_epoch", i, "epoch"])]
            for d in discs:
                row += [num(m, ["variants", v, "per_epoch", i, key, d]) for key in (RAW, *labels)]
            rows.append(row)
    return Table(columns, rows, caption="AUC at every epoch checkpoint", source="metrics.json",
                 id="auc-per-epoch") if rows else None


def transfer_tables(m: dict[str, Any]) -> list[Table]:
    """Grey-box transfer: AUC of inputs crafted on one variant (rows) and scored by another (columns)."""
    labels = attack_labels(m)
    tables = []
    for a, by_source in (m.get("transfer") or {}).items():
        targets = list(next(iter(by_source.values()), {}))
        for d in m.get("discriminators") or []:
            rows = [[text(src), *(num(m, ["transfer", a, src, t, d], cls="num ref" if t == src else "num")
                                  for t in targets)] for src in by_source]
            rows.append([text("raw (no attack)"), *(num(m, ["variants", t, "metrics", RAW, d, "auc"])
                                                     for t in targets)])
            tables.append(Table(["crafted on \\ scored by", *targets], rows, source="metrics.json",
                                caption=f"{d} AUC under {labels.get(a, a)}", id=f"transfer-{a}-{d}"))
    return tables


def _plots(paths: ReportPaths, pattern: str, used: set[Path]) -> list[Path]:
    found = sorted(paths.plots.glob(pattern)) if paths.plots.is_dir() else []
    used.update(found)
    return found


def training_section(paths: ReportPaths) -> Section | None:
    m, error = load_json(paths.metrics) if paths.metrics.is_file() else ({}, None)
    m = m if isinstance(m, dict) else {}
    run = paths.run
    used: set[Path] = set()
    blocks: list[Block] = []
    histories = history_tables(paths, m)
    loss = figures(_plots(paths, "loss.png", used), run)
    if histories or loss:
        blocks.append(Block("Training", [*([loss] if loss else []), *([Details("Epoch by epoch", histories)]
                                                                        if histories else [])], id="training-history"))
    if m.get("variants"):
        items: list[Any] = [auc_table(m)]
        check = checks_table(m)
        if check:
            items.append(check)
        blocks.append(Block("Performance, raw and under attack", items, id="performance"))
    by_disc = m.get("discriminators") or []
    roc = figures([p for d in by_disc for p in _plots(paths, f"roc_{d}.png", used)], run)
    shapes = figures(_plots(paths, "shapes_*.png", used), run)
    if roc or shapes:
        blocks.append(Block("ROC curves per discriminator", [*([roc] if roc else []),
                                                            *([Details("Discriminator shapes", [shapes])]
                                                              if shapes else [])], id="roc"))
    vs_epoch = figures(_plots(paths, "auc_vs_epoch_*.png", used), run)
    susceptibility = figures(_plots(paths, "susceptibility_*.png", used), run)
    table = per_epoch_table(m)
    if vs_epoch or susceptibility or table:
        blocks.append(Block("Susceptibility vs epoch", [x for x in (susceptibility, vs_epoch) if x]
                            + ([Details("AUC at every epoch (table)", [table])] if table else []), id="susceptibility"))
    transfer = transfer_tables(m)
    if transfer:
        blocks.append(Block("Transfer matrix (grey-box)", [*transfer, Note(
            "Diagonal: white-box (crafted on the model that scores them); off-diagonal: inputs crafted on the row's "
            "model, scored by the column's.")], id="transfer"))
    other = figures(sorted(p for p in (paths.plots.glob("*.png") if paths.plots.is_dir() else []) if p not in used),
                    run)
    if other:
        blocks.append(Block("Other plots", [other]))
    if error:
        blocks.insert(0, Block("", [Note(error, "warn")]))
    return Section("training", "Training and evaluation", blocks) if blocks else None
