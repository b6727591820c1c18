"""Provenance: the card, versions, seeds, device, precision, wall times and dataset key of a run."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hepadv.report.content import Block, Cell, Details, Facts, Note, Pre, Section, Table, load_json, text
from hepadv.report.layout import ReportPaths

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def read_history(paths: ReportPaths) -> tuple[list[dict[str, Any]], str | None]:
    """runs.jsonl as a list of entries (an unreadable line is reported, not fatal)."""
    if not paths.history.is_file():
        return [], None
    entries = []
    for i, line in enumerate(paths.history.read_text().splitlines(), 1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError:
                return entries, f"{paths.history.name} line {i}: not JSON"
    return entries, None


def checkpoint_provenance(paths: ReportPaths) -> dict[str, dict[str, Any]]:
    """Per variant, what its best checkpoint records about where it came from (no weights kept)."""
    from hepadv.errors import CheckpointError
    from hepadv.training.checkpoint import load_checkpoint

    found = {}
    for variant in paths.variants():
        path = paths.best_checkpoint(variant)
        if not path.is_file():
            continue
        try:
            state = load_checkpoint(path)
        except CheckpointError as exc:
            found[variant] = {"error": str(exc)}
            continue
        found[variant] = {k: state.get(k) for k in ("epoch", "best_epoch", "card_hash", "dataset_key", "finished")}
    return found


def _unique(values: list[Any]) -> str:
    seen = [str(v) for v in dict.fromkeys(v for v in values if v not in (None, ""))]
    return ", ".join(seen) if seen else "not recorded"


def _seconds_between(start: str | None, end: str | None) -> float | None:
    try:
        return (datetime.strptime(end or "", TIME_FORMAT) - datetime.strptime(start or "", TIME_FORMAT)).total_seconds()
    except ValueError:
        return None


def history_table(entries: list[dict[str, Any]]) -> Table:
    """One row per start, resume and end in runs.jsonl; an end row shows the time since its start."""
    rows = []
    started: str | None = None
    for e in entries:
        event = e.get("event", "?")
        wall = None
        if event in ("start", "resume"):
            started = e.get("time")
        elif event == "end":
            wall = _seconds_between(started, e.get("time"))
        what = e.get("mode") or e.get("status") or ""
        epochs = e.get("epochs_added") or e.get("from_epoch") or {}
        rows.append([text(event), text(e.get("time", "")), text(what), text(e.get("device") or ""),
                     text(e.get("hepadv") or ""), text(" ".join(e.get("overrides") or []), "wrap"),
                     text(", ".join(f"{k} {v}" for k, v in epochs.items())),
                     Cell(f"{wall:.0f} s" if wall is not None else "", wall, None, cls="num",
                          title="end time minus the start time before it (runs.jsonl)")])
    return Table(["event", "time", "mode / status", "device", "hepadv", "--set", "epochs", "wall time"], rows,
                 caption="Run history (runs.jsonl)", source="runs.jsonl", id="run-history")


def provenance_section(paths: ReportPaths, written_by: dict[str, str]) -> Section | None:
    """None when the folder holds no run record at all (e.g. a folder with only Data/MC results)."""
    config, config_error = load_json(paths.config) if paths.config.is_file() else (None, None)
    entries, history_error = read_history(paths)
    checkpoints = checkpoint_provenance(paths)
    if config is None and not entries and not checkpoints and not paths.card.is_file():
        return None
    config = config if isinstance(config, dict) else {}
    training = config.get("training") or {}
    dataset = config.get("dataset") or {}
    model = config.get("model") or {}
    starts = [e for e in entries if e.get("event") in ("start", "resume")]
    seeds = [f"{config['seed']}"] if "seed" in config else []
    for section in ("preprocess", "training", "evaluation"):
        value = (config.get(section) or {}).get("seed")
        if value is not None:
            seeds.append(f"{section}.seed {value}")
    commits = [e.get("commit") for e in entries if e.get("commit")]
    precisions = [e.get("precision") for e in entries if e.get("precision")]
    facts = [
        ("run", f"{config.get('name', paths.run.name)}  ({paths.run})"),
        ("card", _unique([e.get("card") for e in starts]) + (f"  --set {' '.join(starts[0]['overrides'])}"
                                                           if starts and starts[0].get("overrides") else "")),
        ("seed", ", ".join(seeds) or "not recorded"),
        ("dataset", f"{dataset.get('name', '?')} {json.dumps(dataset.get('params') or {})}" if dataset else
         "not recorded"),
        ("dataset key", _unique([c.get("dataset_key") for c in checkpoints.values()])),
        ("card hash", _unique([c.get("card_hash") for c in checkpoints.values()])),
        ("model", f"{model.get('name', '?')} {json.dumps(model.get('params') or {})}" if model else "not recorded"),
        ("device", _unique([e.get("device") for e in starts])),
        ("precision", _unique(precisions) if precisions else
         f"{training.get('precision', 'not recorded')} (as set in the card; the run does not record what "
         "it resolved to)"),
        ("compile", str(training.get("compile", "not recorded"))),
        ("hepadv", _unique([e.get("hepadv") for e in entries])),
        ("commit", _unique(commits) if commits else "not recorded by the run"),
        ("report written by", f"hepadv {written_by['version']}"
         + (f" at commit {written_by['commit']}" if written_by.get("commit") else "")),
    ]
    items: list[Any] = [Facts(facts)]
    for error in (config_error, history_error):
        if error:
            items.append(Note(error, "warn"))
    if entries:
        items.append(history_table(entries))
    if checkpoints:
        rows = []
        for variant, c in checkpoints.items():
            if "error" in c:
                rows.append([text(variant), text(c["error"], "miss"), text(""), text(""), text("")])
                continue
            rows.append([text(variant), text(c.get("epoch"), "num"), text(c.get("best_epoch"), "num"),
                         text(c.get("card_hash") or ""),
                         text(c.get("dataset_key") or "")])
        items.append(Table(["variant", "epoch", "best epoch", "card hash", "dataset key"], rows,
                           caption="Best checkpoints (VARIANT/checkpoints/best.pt)", id="checkpoints"))
    files: list[Any] = []
    if paths.card.is_file():
        files.append(Pre("card.yaml (the card as read)", paths.card.read_text()))
    if config:
        files.append(Pre("config.json (the resolved card, defaults included)", json.dumps(config, indent=2)))
    if files:
        items.append(Details("Card and resolved configuration", files))
    return Section("provenance", "Provenance", [Block("", items)])
