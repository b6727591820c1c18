"""Every ``hepadv defend`` study: initial vs corrected fooling ratio, grey-box matrices, efficiency curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hepadv.report.content import (
    Block,
    Details,
    Facts,
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


def _matrix(m: dict[str, Any], key: str, source: str, study: str, caption: str) -> Table | None:
    values = get(m, ["grey_box", key])
    if not isinstance(values, list) or not values:
        return None
    rows = [[text(f"model {i}"), *(num(m, ["grey_box", key, i, j], 3, cls="num ref" if i == j else "num")
                                   for j in range(len(row)))] for i, row in enumerate(values)]
    return Table(["scored by \\ crafted on", *(f"run {j}" for j in range(len(values[0])))], rows, source=source,
                 id=f"{key}-{study}", caption=caption)


def detector_items(m: dict[str, Any], source: str, study: str) -> list[Any]:
    fr = Table(["", "initial FR", "corrected FR"], [
        [text("white-box (mean over runs)"), num(m, ["white_box", "initial_mean"], 3),
         num(m, ["white_box", "corrected_mean"], 3)],
        [text("grey-box (mean ± std)"), num(m, ["grey_box", "initial", "mean"], 3),
         num(m, ["grey_box", "corrected", "mean"], 3)],
    ], source=source, id=f"defence-fr-{study}", caption="Fooling ratio before and after removing detected adversaries")
    runs = len(get(m, ["white_box", "initial"]) or [])
    per_run = [("white_box", "initial", "WB FR initial"), ("white_box", "corrected", "WB FR corrected"),
               ("white_box", "detector_efficiency_clean", "det. eff. clean"),
               ("white_box", "detector_efficiency_adversarial", "det. eff. adversarial"),
               ("white_box", "detector_auc", "detector AUC"), ("data", "efficiency_at_threshold", "det. eff. \"data\"")]
    shown = [c for c in per_run if isinstance(get(m, [c[0], c[1]]), list)]
    rows = [[text(f"run {i}"), *(num(m, [a, b, i], 3) for a, b, _ in shown)] for i in range(runs)]
    items: list[Any] = [fr, Table(["run", *(c[2] for c in shown)], rows, source=source, id=f"defence-runs-{study}",
                                  caption=f"Per run (threshold {get(m, ['defence', 'params', 'threshold'])})")]
    items += [t for t in (_matrix(m, "initial_matrix", source, study, "Grey-box fooling ratio, initial"),
                          _matrix(m, "corrected_matrix", source, study, "Grey-box fooling ratio, corrected")) if t]
    sig = m.get("significance")
    if isinstance(sig, dict) and isinstance(sig.get("k"), list):
        rows = [[num(m, ["significance", "k", i]), num(m, ["significance", "observed", i]),
                 num(m, ["significance", "expected", i], 3), num(m, ["significance", "p_values", i], 3),
                 text("yes" if get(sig, ["significant", i]) else "no")] for i in range(len(sig["k"]))]
        items.append(Details("Repeated misclassification test (eqs. 6-11)", [Table(
            ["k runs", "observed", "expected", "p-value", "significant"], rows, source=source,
            id=f"significance-{study}",
            caption=f"{sig.get('n_events', '?')} clean events over {sig.get('runs', '?')} runs, p = "
                    f"{fmt(sig.get('p'))}, alpha = {sig.get('alpha', '?')}")]))
    return items


def augmentation_items(m: dict[str, Any], source: str, study: str) -> list[Any]:
    runs = len(m.get("auc_base") or [])
    rows = [[text(f"run {i}"), num(m, ["auc_base", i]), num(m, ["auc_augmented", i]),
             num(m, ["per_run", i, "n_added"])] for i in range(runs)]
    rows.append([text("mean"), num(m, ["auc_base_mean"]), num(m, ["auc_augmented_mean"]), text("")])
    return [Table(["", "clean AUC base", "clean AUC augmented", "adversaries added"], rows, source=source,
                  id=f"augmentation-{study}", caption="Clean-test AUC, base vs augmented training"),
            Table(["AUC gain (mean ± std over runs)"], [[num(m, ["auc_gain", "mean"], sign=True)]], source=source,
                  id=f"augmentation-gain-{study}")]


def iterative_items(m: dict[str, Any], source: str, study: str) -> list[Any]:
    n = len(get(m, ["per_iteration", "mean"]) or [])
    rows = [[text("base"), num(m, ["baseline", "mean"], 3), num(m, ["baseline", "grey_box_only"], 3), text("")]]
    rows += [[text(f"iteration {t + 1}"), num(m, ["per_iteration", "mean", t], 3, err_key=["per_iteration", "std", t]),
              num(m, ["per_iteration", "grey_box_only", t], 3), num(m, ["clean_auc", "per_iteration", t])]
             for t in range(n)]
    summary = Table(["average case", "best case"], [[num(m, ["average_case", "mean"], 3),
                                                      num(m, ["best_case", "mean"], 3)]], source=source,
                    id=f"iterative-summary-{study}", caption="Fooling ratio over the iterations (mean over runs)")
    return [Table(["", "FR (mean ± std)", "FR grey-box only", "clean AUC"], rows, source=source,
                  id=f"iterative-{study}", caption="Grey-box fooling ratio per iteration of adversarial training"),
            summary]


def generic_items(m: dict[str, Any], source: str, study: str) -> list[Any]:
    """A pipeline this report does not know: its top-level numbers."""
    rows = [[text(k), num(m, [k])] for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return [Table(["quantity", "value"], rows, source=source, id=f"defence-numbers-{study}")] if rows else []


PIPELINES = {"detector": detector_items, "augmentation": augmentation_items, "iterative": iterative_items}


def defences_section(paths: ReportPaths) -> Section | None:
    def block(study: Path, m: dict[str, Any], source: str) -> Block:
        attack, defence = m.get("attack") or {}, m.get("defence") or {}
        items: list[Any] = [Facts([
            ("pipeline", f"{m.get('pipeline', '?')} (card {m.get('card', '?')}), {m.get('runs', '?')} runs"),
            ("attack", f"{attack.get('label', attack.get('name', '?'))} {json.dumps(attack.get('params') or {})}"),
            ("defence", f"{defence.get('name', '')} {json.dumps(defence.get('params') or {})}" if defence else
             "adversarial retraining"),
            ("wall time", f"{fmt(m.get('seconds'), 0)} s"),
        ])]
        items += PIPELINES.get(m.get("pipeline", ""), generic_items)(m, source, study.name)
        found = figures(sorted(paths.defence_plots(study).glob("*.png")), paths.run)
        if found:
            items.append(found)
        return Block(f"{m.get('card', study.name)} ({study.name})", items, id=f"defence-{study.name}")

    blocks = study_blocks(paths, paths.defences(), paths.defence_metrics, "a defence result", block)
    return Section("defences", "Defences", blocks) if blocks else None
