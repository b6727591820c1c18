"""Every check that can refuse a training run, made before anything is written.

The card's components (plugins), the input files it names and the state of the output folder are
checked first, so a refused run leaves the folder exactly as it was; the result is the ``RunRecord``
that writes the record once training really starts.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from hepadv.cards.schema import RunCard
from hepadv.errors import CardError, DataError, HepadvError, UnknownComponentError
from hepadv.runs.layout import METRICS_FILE, PLOTS_DIR, REPORT_FILE, RESERVED
from hepadv.runs.record import CARD_FILE, CONFIG_FILE, HISTORY_FILE, RunRecord, check_resume, current_config

#: Files and folders of a run besides the variants' folders (what --overwrite discards).
#: (Everything derived from the old models goes with them: metrics, plots, the report, attacks, Data/MC, exports.)
RUN_FILES = (CARD_FILE, CONFIG_FILE, HISTORY_FILE, METRICS_FILE, PLOTS_DIR, REPORT_FILE, "attacks", "datamc", "sf",
             "export")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def preflight(card: RunCard, *, resume: bool, overwrite: bool) -> RunRecord:
    """Refuse now (one-line ``HepadvError``) or return the record to write when training starts."""
    if resume and overwrite:
        raise HepadvError("pass --resume or --overwrite, not both")
    check_components(card)
    check_inputs(card)
    out = card.output_dir()
    if out.exists() and not out.is_dir():
        raise HepadvError(f"output {out} exists and is not a folder")
    from hepadv.cards.load import resolved_card

    config = resolved_card(card)
    existing = existing_checkpoints(out)
    if not existing:
        return RunRecord(out, "new", config)
    if overwrite:
        return RunRecord(out, "overwrite", config, replaced=_replaced(out, card, existing))
    if not resume:
        raise HepadvError(f"{out} already holds checkpoints; pass --resume to continue or --overwrite to "
                          "start again")
    changes = check_resume(current_config(out), config, out)
    from hepadv.training.checkpoint import load_checkpoint

    start = {name: int(load_checkpoint(last).get("epoch", 0)) for name, last in existing.items()}
    return RunRecord(out, "resume", config, changes=changes, start_epochs=start)


def existing_checkpoints(out: Path) -> dict[str, Path]:
    """``{variant: last.pt}`` of every variant folder under ``out`` that completed an epoch."""
    if not out.is_dir():
        return {}
    return {p.parent.parent.name: p for p in sorted(out.glob("*/checkpoints/last.pt"))}


def check_components(card: RunCard) -> None:
    """Every component the card names is registered, and every defence can train a model."""
    from hepadv.defences.base import TrainingStrategy
    from hepadv.registry.manager import lookup

    for variant in card.variants:
        if variant.name in RESERVED:
            raise CardError(f"variant name {variant.name!r} is taken by the run record; choose another")
    for kind, where, spec in card.component_specs():
        try:
            cls = lookup(kind, spec.name)
        except UnknownComponentError as exc:
            raise CardError(f"{where}.name: {exc}") from None
        if kind == "defence" and not (isinstance(cls, type) and issubclass(cls, TrainingStrategy)):
            raise CardError(f"{where}.name: defence {spec.name!r} is not a training strategy")


def check_inputs(card: RunCard) -> None:
    """Every path in the components' params exists (data files above all), before any data is read."""
    for _kind, where, spec in card.component_specs():
        params = spec._validated
        if params is None:
            continue
        for field, path in _paths(params, f"{where}.params"):
            if not path.exists():
                raise DataError(f"{field}: input file {path} does not exist")


def _paths(value: Any, where: str) -> list[tuple[str, Path]]:
    if isinstance(value, Path):
        return [(where, value)]
    if isinstance(value, BaseModel):
        return [item for name, sub in value for item in _paths(sub, f"{where}.{name}")]
    if isinstance(value, (list, tuple)):
        return [item for i, sub in enumerate(value) for item in _paths(sub, f"{where}.{i}")]
    if isinstance(value, dict):
        return [item for key, sub in value.items() for item in _paths(sub, f"{where}.{key}")]
    return []


def _replaced(out: Path, card: RunCard, existing: dict[str, Path]) -> list[Path]:
    """What --overwrite discards: the record, metrics, plots and every variant folder of the old or new run."""
    names = [*existing, *(v.name for v in card.variants)]
    with contextlib.suppress(HepadvError, KeyError, TypeError):
        names += [v["name"] for v in current_config(out).get("variants", [])]
    safe = [n for n in dict.fromkeys(names) if isinstance(n, str) and _NAME.fullmatch(n) and n not in (".", "..")]
    paths = [out / n for n in RUN_FILES] + [out / n for n in safe]
    return [p for p in paths if p.exists() or p.is_symlink()]
