"""One loader for every card kind (run, attack, Data/MC, defence): read, parse, override, validate.

``load(path, kind, overrides)`` is the only way a card becomes a typed object. The kind is the one the card names
(``kind: datamc``) or the one the command asks for; a card naming another kind than the command's is refused in one
line. Every failure is one ``CardError`` line naming the file and field. Bounds before work: a card larger than
``MAX_CARD_BYTES`` or whose YAML aliases expand beyond ``MAX_NODES`` values is refused before it is walked.

Overrides are ``KEY=VALUE`` text from ``--set`` (the value parsed as YAML: ``3`` int, ``[1, 2]`` list) or
``(KEY, value)`` pairs from typed CLI flags, which are set as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hepadv.cards.messages import describe_error, show
from hepadv.cards.schema import Card, RunCard
from hepadv.errors import CardError, UnknownComponentError
from hepadv.progress import Progress, as_progress

#: Largest card file read (bytes): cards are a few kB; anything near this is a mistake or an attack.
MAX_CARD_BYTES = 1_000_000
#: Most values a card may hold once YAML aliases are expanded (a "billion laughs" card is refused).
MAX_NODES = 100_000

Override = str | tuple[str, Any]

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load``, with libyaml's C parser when PyYAML has it (2-3x faster, the same SafeConstructor:
    no tag ever builds a Python object)."""
    return yaml.load(text, Loader=_SAFE_LOADER)


def parse_yaml(text: str, label: str) -> Any:
    """Safe-parse YAML; a syntax error is one CardError line naming the file, line and column."""
    try:
        data = safe_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CardError(f"{label}{where}: YAML syntax error: {problem}") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise CardError(f"{label}: unreadable value ({str(exc).splitlines()[0][:80]})") from None
    _check_size(data, label)
    return data


def _check_size(data: Any, label: str) -> None:
    """Refuse data whose aliases expand to more than MAX_NODES values (counted on the shared graph, not expanded)."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key not in sizes:
            sizes[key] = 0  # a self-referencing alias counts once (and pydantic refuses it later)
            items = node.values() if isinstance(node, dict) else node
            sizes[key] = min(MAX_NODES + 1, 1 + sum(size(v) for v in items))
        return sizes[key]

    if size(data) > MAX_NODES:
        raise CardError(f"{label}: card expands to more than {MAX_NODES:,} values (YAML aliases?); refusing it")


def read_card(path: Path, label: str) -> str:
    """The card's text: a readable UTF-8 file of at most MAX_CARD_BYTES, else one CardError line."""
    if path.is_dir():
        raise CardError(f"{label}: is a directory, not a card file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CardError(f"{label}: no such card file") from None
    except OSError as exc:
        raise CardError(f"{label}: cannot read card ({exc.strerror})") from None
    if size > MAX_CARD_BYTES:
        raise CardError(f"{label}: {size:,} bytes; cards are limited to {MAX_CARD_BYTES:,} bytes")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CardError(f"{label}: cannot read card ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CardError(f"{label}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the card as UTF-8"
                        ) from None


# ------------------------------------------------------------------------------------------------- overrides
def apply_overrides(data: dict[str, Any], overrides: Sequence[Override], label: str = "--set") -> dict[str, Any]:
    """Apply ``section.key=value`` text or ``(section.key, value)`` pairs to a copy of ``data``."""
    data = copy.deepcopy(data)
    for item in overrides:
        if isinstance(item, tuple):
            key, value = item
            shown = f"{key}={show(value)}"
        else:
            key, sep, raw = item.partition("=")
            shown = item
            if not sep or not key.strip():
                raise CardError(f"--set {item!r}: expected KEY=VALUE, e.g. training.epochs=5")
            value = _parse_value(raw, item)
        parts = key.strip().split(".")
        if not all(parts):
            raise CardError(f"--set {shown!r}: empty key in {key.strip()!r}; expected e.g. training.epochs")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            node = _step(node, part, shown, next_is_index=_is_index(parts[depth + 1]))
            if not isinstance(node, (dict, list)):
                raise CardError(f"--set {shown!r}: cannot descend into {part!r}, it holds {show(node)}, not a mapping")
        last = parts[-1]
        if isinstance(node, list):
            node[_index(node, last, shown)] = value
        else:
            node[last] = value
    return data


def _parse_value(raw: str, item: str) -> Any:
    if len(raw) > 10_000:
        raise CardError(f"--set {item[:40]!r}...: value longer than 10,000 characters")
    try:
        value = safe_yaml(raw)
    except yaml.YAMLError:
        return raw
    except ValueError as exc:
        raise CardError(f"--set {item[:60]!r}: unreadable value ({str(exc).splitlines()[0][:80]})") from None
    _check_size(value, f"--set {item[:40]!r}")
    return value


def _is_index(part: str) -> bool:
    return part.isascii() and part.isdigit()  # str.isdigit alone accepts "²"


def _index(node: list[Any], part: str, item: str) -> int:
    if not _is_index(part) or int(part) >= len(node):
        raise CardError(f"--set {item!r}: {part!r} is not an index of a list of length {len(node)}")
    return int(part)


def _step(node: dict[str, Any] | list[Any], part: str, item: str, next_is_index: bool) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, item)]
    if part not in node or node[part] is None:
        node[part] = [] if next_is_index else {}
    return node[part]


def _as_text(item: Override) -> str:
    return f"{item[0]}={item[1]}" if isinstance(item, tuple) else item


# ------------------------------------------------------------------------------------------------ validation
def validate_component_specs(specs: list[tuple[str, str, Any]], label: str, base_dir: Path | None) -> None:
    """Look up every (kind, field path, ComponentSpec) and validate its params with the component's model, once."""
    from hepadv.registry.manager import lookup

    for kind, where, spec in specs:
        try:
            cls = lookup(kind, spec.name)
        except UnknownComponentError as exc:
            raise CardError(f"{label}: {where}.name: {exc}") from None
        try:
            spec._validated = cls.parse_params(spec.params, base_dir)
        except ValidationError as exc:
            raise CardError(f"{label}: {where}.params.{describe_error(exc, cls.Params)}") from None


def validate(data: Any, kind: str | None = None, label: str = "<card>", base_dir: Path | None = None,
             source: Path | None = None, text: str | None = None, overrides: Sequence[Override] = (),
             validate_components: bool = True) -> Card:
    """Validate parsed card data as the kind it names (or ``kind``, the command's); components included."""
    from hepadv.cards.kinds import CARD_KINDS, card_class

    if not isinstance(data, dict):
        raise CardError(f"{label}: expected a mapping of sections at the top level, got {type(data).__name__}")
    named = data.get("kind")
    if named is not None and (not isinstance(named, str) or named not in CARD_KINDS):
        raise CardError(f"{label}: kind: expected one of {', '.join(CARD_KINDS)}, got {show(named)}")
    if kind is not None and named is not None and named != kind:
        raise CardError(f"{label}: this is a {named} card (kind: {named}), but a {kind} card is needed here")
    cls = card_class(kind or named or "run")
    try:
        card = cls.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        hint = ""
        if named is None and kind is None and any(k in data for k in ("attack", "defence", "selection", "taggers")):
            hint = " (not a run card? name its kind at the top: kind: attack, datamc or defence)"
        raise CardError(f"{label}: {describe_error(exc, cls)}{hint}") from None
    card._source = source
    card._text = text
    card._overrides = [_as_text(o) for o in overrides]
    if validate_components:
        validate_component_specs(card.component_specs(), label, base_dir)
        card.check(label, base_dir)
    return card


@dataclass
class CardSource:
    """A card file read and parsed, before overrides and validation."""

    data: Any
    label: str
    base_dir: Path
    path: Path | None = None
    text: str | None = None


def read_data(source: str | Path | None, progress: Progress | None = None) -> CardSource:
    """Read and parse the card at ``source`` (None: no file, every default).

    A path that does not exist locally but names a packaged card (``cards/adv.yaml``, ``adv.yaml``, ``adv``)
    resolves to it, saying so through ``progress.note``.
    """
    if source is None:
        return CardSource({}, "<defaults>", Path.cwd())
    from hepadv.cards.packaged import resolve_card_path

    path, note = resolve_card_path(Path(source))
    if note:
        as_progress(progress).note(note)
    label = str(source)
    text = read_card(path, label)
    data = parse_yaml(text, label)
    if data is None:  # empty, or only comments: almost surely a mistake, and the defaults mean a long run
        raise CardError(f"{label}: card is empty; write `{{}}` to accept every default")
    return CardSource(data, label, path.resolve().parent, path, text)


def load(source: str | Path | CardSource | None, kind: str | None = None, overrides: Sequence[Override] = (), *,
         progress: Progress | None = None, validate_components: bool = True) -> Card:
    """Read (``read_data``), override and validate the card at ``source``: the one way to load any card."""
    src = source if isinstance(source, CardSource) else read_data(source, progress)
    data = apply_overrides(src.data, overrides, src.label) if isinstance(src.data, dict) else src.data
    return validate(data, kind, src.label, src.base_dir, src.path, src.text, overrides, validate_components)


def load_card(path: str | Path, overrides: Sequence[Override] | None = None, validate_components: bool = True,
              progress: Progress | None = None) -> RunCard:
    """A run card (``hepadv train``'s kind)."""
    card = load(path, "run", overrides or (), progress=progress, validate_components=validate_components)
    assert isinstance(card, RunCard)
    return card


def validate_card(data: dict[str, Any], label: str = "<card>", base_dir: Path | None = None,
                  validate_components: bool = True, source: Path | None = None) -> RunCard:
    """A run card from data already parsed into a dict (the Python API)."""
    card = validate(data, "run", label, base_dir, source, validate_components=validate_components)
    assert isinstance(card, RunCard)
    return card


def resolved_card(card: Card) -> dict[str, Any]:
    """The card as plain data with defaults and validated component params filled in."""
    data = card.model_dump(mode="json")
    for _kind, where, spec in card.component_specs():
        if spec._validated is None:
            continue
        node = data
        for part in where.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        node["params"] = spec.validated_params.model_dump(mode="json")
    return data
