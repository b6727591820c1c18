"""Models exported with ``hepadv export``: what each file takes and gives, and how well it matches PyTorch."""

from __future__ import annotations

from hepadv.report.content import Block, Cell, Note, Section, Table, fmt, load_json, text
from hepadv.report.layout import ReportPaths


def exports_section(paths: ReportPaths) -> Section | None:
    rows = []
    notes = []
    for path in paths.exports():
        meta, error = load_json(path)
        if error or not isinstance(meta, dict) or meta.get("format") != "onnx":
            notes.append(Note(error or f"{path.name}: not an export description", "warn"))
            continue
        check = meta.get("check") or {}
        diff = check.get("max_abs_diff")
        rows.append([text(paths.relative(path.with_suffix(".onnx"))), text(meta.get("variant", "?")),
                     text(meta.get("epoch", "?"), "num"), text(meta.get("opset", "?"), "num"),
                     text(len(meta.get("input_names") or []), "num"), text(", ".join(meta.get("class_names") or [])),
                     Cell(f"{fmt(diff, 1) if diff is None else f'{diff:.1e}'} on {check.get('rows', '?')} rows",
                          cls="num")])
    if not rows and not notes:
        return None
    table = Table(["file", "variant", "epoch", "opset", "inputs", "classes", "max |ONNX - PyTorch|"], rows,
                  caption="Exported models (inputs, classes and discriminators in the JSON beside each file)",
                  id="export-files")
    return Section("exports", "Exported models", [Block("", [*notes, *([table] if rows else [])])])
