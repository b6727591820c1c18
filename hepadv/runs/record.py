"""The run record: what a run folder says about the models beside it, and it never lies.

``card.yaml`` (the card text as read) and ``config.json`` (the resolved card) are written once, by the
run that creates the checkpoints. A later ``--resume`` never rewrites them: it appends to ``runs.jsonl``
(one JSON object a line: time, overrides, the settings it changed, epochs added), so the settings the
models were trained with are ``config.json`` updated by the resume lines (``current_config``).

Only changes that extend a run may be made on resume (``check_resume``): more epochs, more patience.
Anything else would make the record describe models that were trained differently.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepadv.errors import CardError, HepadvError
from hepadv.io import atomic_write_text, write_json

from hepadv.runs.layout import CARD_FILE, CONFIG_FILE, HISTORY_FILE

#: Top-level card keys that do not change what the models are (where they go, how they are evaluated).
NEUTRAL_KEYS = ("name", "device", "threads", "output", "evaluation", "submit")  # submit: the batch job, not the model
#: Training keys that do not change the models either (where the tensors live, the preprocessing cache).
NEUTRAL_TRAINING = ("on_gpu_if_fits",)
NEUTRAL_PREPROCESS = ("cache",)
#: Training keys a resume may increase (patience also to None: never stop early).
EXTENDABLE = ("epochs", "patience")


def model_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved card that determines the trained models, with each variant's effective training."""
    settings = {k: v for k, v in config.items() if k not in NEUTRAL_KEYS}
    training = {k: v for k, v in config.get("training", {}).items() if k not in NEUTRAL_TRAINING}
    if "training" in settings:
        settings["training"] = training
    if isinstance(settings.get("preprocess"), dict):
        settings["preprocess"] = {k: v for k, v in settings["preprocess"].items() if k not in NEUTRAL_PREPROCESS}
    variants = []
    for v in config.get("variants", []):
        own = {k: x for k, x in (v.get("training") or {}).items() if k not in NEUTRAL_TRAINING}
        variants.append({**v, "training": {**training, **own}})
    if "variants" in settings:
        settings["variants"] = variants
    return settings


def differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, old, new) of every differing leaf, in the order the keys appear."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            out += differences(old.get(key, _ABSENT), new.get(key, _ABSENT), sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += differences(a, b, f"{path}.{i}")
        return out
    return [] if old == new else [(path, old, new)]


class _Absent:
    def __repr__(self) -> str:
        return "(not set)"


_ABSENT = _Absent()


def _extends(path: str, old: Any, new: Any) -> bool:
    """True when changing ``path`` from ``old`` to ``new`` only lets training go on longer."""
    parts = path.split(".")
    if len(parts) < 2 or parts[-2] != "training" or parts[-1] not in EXTENDABLE:
        return False
    if parts[-1] == "patience" and new is None:
        return True
    return isinstance(old, int) and isinstance(new, int) and new > old


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, _Absent) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def check_resume(old_config: dict[str, Any], new_config: dict[str, Any], where: Path) -> dict[str, list[Any]]:
    """The honoured changes ``{path: [old, new]}``; a one-line ``CardError`` at the first other change."""
    honoured: dict[str, list[Any]] = {}
    for path, old, new in differences(model_settings(old_config), model_settings(new_config)):
        if not _extends(path, old, new):
            raise CardError(
                f"cannot resume {where}: {path} was {_show(old)}, now {_show(new)}; on --resume only "
                f"training.epochs and training.patience may grow (use --overwrite to start again)")
        honoured[path] = [old, new]
    # a top-level change shows once, not again for every variant that inherits it
    return {path: change for path, change in honoured.items()
            if not (path.startswith("variants.") and honoured.get("training." + path.split(".")[-1]) == change)}


def read_history(out: Path) -> list[dict[str, Any]]:
    path = out / HISTORY_FILE
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HepadvError(f"{path}: not a hepadv run history ({exc})") from None


def current_config(out: Path) -> dict[str, Any]:
    """The settings the models in ``out`` were trained with: config.json, or the config of the last resume."""
    path = out / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise HepadvError(f"{out} holds checkpoints but no {CONFIG_FILE}, so their settings are unknown; "
                          "use --overwrite to start again") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HepadvError(f"{path}: not a hepadv run configuration ({exc})") from None
    return latest_config(out, config)


def latest_config(out: Path, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (config.json) as later resumes extended it: the config of the last resume line, if any."""
    for entry in read_history(out):
        if entry.get("event") == "resume" and isinstance(entry.get("config"), dict):
            config = entry["config"]
    return config


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _stat(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    return {p: (s.st_mtime_ns, s.st_size) for p in paths if (s := _safe_stat(p)) is not None}


def _safe_stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


@dataclass
class RunRecord:
    """Writes the record when training really starts and takes it back when no epoch was completed.

    ``begin`` creates the folder (or moves an overwritten run aside), writes card.yaml/config.json or
    appends the resume line; ``finish`` appends how it ended; ``abort`` after a failure keeps every
    completed epoch, and when there is none restores the folder as it was (or removes it).
    """

    out: Path
    mode: str  # "new", "resume" (continuing checkpoints) or "overwrite"
    config: dict[str, Any]
    changes: dict[str, list[Any]] = field(default_factory=dict)
    replaced: list[Path] = field(default_factory=list)  # what --overwrite discards
    start_epochs: dict[str, int] = field(default_factory=dict)
    _created: Path | None = None  # the topmost folder this run created (removed again on an early failure)
    _before: set[Path] = field(default_factory=set)
    _history_before: str | None = None
    _trash: Path | None = None
    _ckpts_before: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def begin(self, card: Any, device: str, precision: str | None = None) -> None:
        out = self.out
        missing = [p for p in (out, *out.parents) if not p.exists()]
        self._created = missing[-1] if missing else None
        self._before = set(out.rglob("*")) if self._created is None else set()
        history = out / HISTORY_FILE
        self._history_before = history.read_text() if history.is_file() else None
        out.mkdir(parents=True, exist_ok=True)
        if self.mode == "overwrite" and self.replaced:
            self._trash = out / f".overwritten-{os.getpid()}"
            self._trash.mkdir()
            for p in self.replaced:
                os.replace(p, self._trash / p.name)
        self._ckpts_before = _stat(self._checkpoints())
        entry = {"event": "resume" if self.mode == "resume" else "start", "time": _now(),
                 "hepadv": _version(), "commit": source_commit(), "card": str(card.source) if card.source else None,
                 "overrides": card.overrides, "device": device, "precision": precision,
                 "threads": getattr(card, "threads", None)}
        if self.mode == "resume":
            entry |= {"from_epoch": self.start_epochs, "changes": self.changes, "config": self.config}
            atomic_write_text(history, (self._history_before or "") + json.dumps(entry) + "\n")
            return
        if card.text is not None:
            atomic_write_text(out / CARD_FILE, card.text)
        write_json(out / CONFIG_FILE, self.config)
        atomic_write_text(history, json.dumps(entry | {"mode": self.mode}) + "\n")

    def epoch_done(self) -> None:
        """The first completed epoch makes the overwrite final."""
        if self._trash is not None:
            shutil.rmtree(self._trash, ignore_errors=True)
            self._trash = None

    def trained_anything(self) -> bool:
        return _stat(self._checkpoints()) != self._ckpts_before

    def finish(self, status: str, last_epochs: dict[str, int]) -> None:
        """Append how this run ended (every start and resume is logged, one that trained nothing too)."""
        added = {v: e - self.start_epochs.get(v, 0) for v, e in last_epochs.items()}
        history = self.out / HISTORY_FILE
        text = history.read_text() if history.is_file() else ""
        entry = {"event": "end", "time": _now(), "status": status, "epochs_added": added,
                 "last_epoch": last_epochs}
        atomic_write_text(history, text + json.dumps(entry) + "\n")

    def abort(self, status: str, last_epochs: dict[str, int]) -> None:
        """After a failure or Ctrl-C: keep completed epochs, or put the folder back as it was."""
        if self.trained_anything():
            self.epoch_done()
            self.finish(status, last_epochs)
            return
        if self._created is not None:
            shutil.rmtree(self._created, ignore_errors=True)
            return
        trash, self._trash = self._trash, None
        if trash is not None:  # a failed --overwrite gives the old run back
            for p in self.replaced:
                _remove(p)
            for p in trash.iterdir():
                os.replace(p, self.out / p.name)
            trash.rmdir()
        for p in sorted(set(self.out.rglob("*")) - self._before, key=lambda p: len(p.parts), reverse=True):
            _remove(p)
        if trash is None:
            self._restore_history()

    def _restore_history(self) -> None:
        history = self.out / HISTORY_FILE
        if self._history_before is None:
            history.unlink(missing_ok=True)
        else:
            atomic_write_text(history, self._history_before)

    def _checkpoints(self) -> list[Path]:
        return sorted(self.out.glob("*/checkpoints/*.pt")) if self.out.is_dir() else []


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def source_commit() -> str | None:
    """The git commit of the hepadv source running now (``+dirty`` with local changes), if it is a git checkout."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None  # installed from a wheel: the version says it
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "hepadv"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit or None


def _version() -> str:
    from hepadv import __version__

    return __version__
