"""What a report is made of: sections of blocks of tables, figures, facts and text, before any HTML.

Numbers enter only through ``num``, which reads them from a loaded JSON file by their key path and keeps
that path on the cell, so the page can say (and a test can check) where every number came from.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from hepadv.report.layout import ReportPaths

#: Keys under which a JSON entry may carry the uncertainty of its ``<name>`` value, in order of preference.
ERROR_SUFFIXES = ("_err", "_error", "_unc", "_uncertainty", "_std")


@dataclass
class Cell:
    """One table cell; ``value``/``key`` when it shows a number read from the table's source file."""

    text: str
    value: float | None = None
    key: list[Any] | None = None  # key path of the value in the table's source JSON
    err: float | None = None
    err_key: list[Any] | None = None
    cls: str = ""  # "num", "pass", "miss", "ref"
    title: str = ""

    @property
    def key_json(self) -> str:
        return json.dumps(self.key) if self.key is not None else ""

    @property
    def err_key_json(self) -> str:
        return json.dumps(self.err_key) if self.err_key is not None else ""

    @property
    def value_repr(self) -> str:
        return repr(self.value) if self.value is not None else ""


@dataclass
class Table:
    kind: ClassVar[str] = "table"
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    source: str = ""  # the JSON file the numbers come from, relative to the run folder
    id: str = ""
    note: str = ""


@dataclass
class Figure:
    src: str  # data URI
    caption: str
    path: str  # relative to the run folder


@dataclass
class Figures:
    kind: ClassVar[str] = "figures"
    figures: list[Figure]
    title: str = ""
    large: bool = False


@dataclass
class Facts:
    """Label -> text pairs (provenance, settings)."""

    kind: ClassVar[str] = "facts"
    items: list[tuple[str, str]]


@dataclass
class Pre:
    kind: ClassVar[str] = "pre"
    title: str
    text: str


@dataclass
class Note:
    kind: ClassVar[str] = "note"
    text: str
    cls: str = ""  # "", "warn", "pass", "miss"


@dataclass
class Details:
    """A collapsed group of items (long tables, raw files)."""

    kind: ClassVar[str] = "details"
    title: str
    items: list[Any]
    open: bool = False


@dataclass
class Block:
    title: str
    items: list[Any] = field(default_factory=list)
    id: str = ""


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block]


def get(data: Any, key: list[Any]) -> Any:
    """``data[k0][k1]...`` or None when any step is missing."""
    for k in key:
        found = (isinstance(data, dict) and k in data) or (
            isinstance(data, list) and isinstance(k, int) and -len(data) <= k < len(data))
        if found:
            data = data[k]
        else:
            return None
    return data


def fmt(value: Any, digits: int = 4, sign: bool = False) -> str:
    """A number as the report prints it; n/a for missing or non-finite values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    if isinstance(value, int):
        return f"{value:+,}" if sign else f"{value:,}"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def error_key(data: Any, key: list[Any]) -> list[Any] | None:
    """Key path of the uncertainty stored beside ``key`` (``kl`` -> ``kl_err``, ``kl_std``, ...; ``mean`` ->
    ``std``), if any."""
    parent, name = get(data, key[:-1]), key[-1]
    if not isinstance(parent, dict) or not isinstance(name, str):
        return None
    candidates = [name + suffix for suffix in ERROR_SUFFIXES] + (["std"] if name == "mean" else [])
    for candidate in candidates:
        if isinstance(parent.get(candidate), (int, float)) and not isinstance(parent.get(candidate), bool):
            return [*key[:-1], candidate]
    return None


def num(data: Any, key: list[Any], digits: int = 4, sign: bool = False, cls: str = "num", title: str = "",
        with_error: bool = True, err_key: list[Any] | None = None) -> Cell:
    """A cell showing the number at ``key`` of ``data`` and ``± err`` when an uncertainty is stored beside it
    (or at ``err_key``)."""
    value = get(data, key)
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    ekey = (err_key or error_key(data, key)) if with_error and number is not None else None
    if ekey is not None and not isinstance(get(data, ekey), (int, float)):
        ekey = None
    err = get(data, ekey) if ekey else None
    text = fmt(number, digits, sign) + (f" ± {fmt(err, digits)}" if err is not None else "")
    return Cell(text, float(number) if number is not None else None, key if number is not None else None,
                float(err) if err is not None else None, ekey, cls, title)


def text(value: Any, cls: str = "", title: str = "") -> Cell:
    return Cell(str(value), cls=cls, title=title)


def load_json(path: Path) -> tuple[Any, str | None]:
    """(data, None), or (None, why) for a file that cannot be read: the report says so instead of failing."""
    try:
        return json.loads(path.read_text()), None
    except (OSError, ValueError) as exc:
        return None, f"{path.name}: unreadable ({exc})"


def study_blocks(paths: ReportPaths, studies: list[Path], file_of: Callable[[Path], Path], what: str,
                 build: Callable[[Path, dict[str, Any], str], Block]) -> list[Block]:
    """One block per study folder from its JSON (``build(study, data, source)``); an unreadable file is a note."""
    blocks = []
    for study in studies:
        path = file_of(study)
        data, error = load_json(path)
        source = paths.relative(path)
        if error or not isinstance(data, dict):
            blocks.append(Block(study.name, [Note(error or f"{source}: not {what}", "warn")]))
        else:
            blocks.append(build(study, data, source))
    return blocks


def data_uri(path: Path) -> str | None:
    """The image embedded as a data URI (None when it cannot be read)."""
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
        path.suffix.lower())
    try:
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}" if mime else None
    except OSError:
        return None


def figure(path: Path, run: Path, caption: str = "") -> Figure | None:
    src = data_uri(path)
    if src is None:
        return None
    try:
        rel = str(path.relative_to(run))
    except ValueError:
        rel = str(path)
    return Figure(src, caption or path.stem.replace("_", " "), rel)


def figures(paths: list[Path], run: Path, title: str = "", large: bool = False) -> Figures | None:
    """The images that exist among ``paths``, or None when there are none."""
    found = [f for f in (figure(p, run) for p in paths) if f is not None]
    return Figures(found, title, large) if found else None
