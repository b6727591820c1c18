"""Load a YAML card into a validated ``RunCard``; every failure is one ``CardError`` line naming file and field."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError

from hepadv.cards.schema import RunCard, TrainingSection
from hepadv.errors import CardError, UnknownComponentError

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_+-]+")
_TYPE_WORDS = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "model_type": "a mapping",
    "path_type": "a path",
}


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load``, with libyaml's C parser when PyYAML has it (2-3x faster, the same SafeConstructor:
    no tag ever builds a Python object)."""
    return yaml.load(text, Loader=_SAFE_LOADER)


def parse_yaml(text: str, label: str) -> Any:
    """Safe-parse YAML; a syntax error is one CardError line naming the file, line and column."""
    try:
        return safe_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CardError(f"{label}{where}: YAML syntax error: {problem}") from None


def load_card(path: str | Path, overrides: list[str] | None = None, validate_components: bool = True) -> RunCard:
    """Read, override (``a.b=c``) and validate a card, including each component's ``params``."""
    path = Path(path)
    label = str(path)
    if path.is_dir():
        raise CardError(f"{label}: is a directory, not a card file")
    if not path.is_file():
        raise CardError(f"{label}: no such card file")
    try:
        text = path.read_text()
    except OSError as exc:
        raise CardError(f"{label}: cannot read card ({exc.strerror})") from None
    data = parse_yaml(text, label)
    if data is None:  # empty, or only comments: almost surely a mistake, and the defaults mean a long run
        raise CardError(f"{label}: card is empty; write `{{}}` to accept every default")
    if not isinstance(data, dict):
        raise CardError(f"{label}: expected a mapping of sections at the top level, got {type(data).__name__}")
    data = apply_overrides(data, overrides or [], label)
    card = validate_card(data, label, base_dir=path.resolve().parent, validate_components=validate_components,
                         source=path)
    card._text = text
    card._overrides = list(overrides or [])
    return card


def validate_card(
    data: dict[str, Any],
    label: str = "<card>",
    base_dir: Path | None = None,
    validate_components: bool = True,
    source: Path | None = None,
) -> RunCard:
    """Validate a card already parsed into a dict (also used by the Python API)."""
    try:
        card = RunCard.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise CardError(f"{label}: {describe_error(exc, RunCard)}") from None
    card._source = source
    for i, variant in enumerate(card.variants):
        try:
            card.variant_training(variant)
        except ValidationError as exc:
            raise CardError(f"{label}: variants.{i}.training.{describe_error(exc, TrainingSection)}") from None
    if validate_components:
        _validate_components(card, label, base_dir)
    return card


def _validate_components(card: RunCard, label: str, base_dir: Path | None) -> None:
    validate_component_specs(card.component_specs(), label, base_dir)


def validate_component_specs(specs: list[tuple[str, str, Any]], label: str, base_dir: Path | None) -> None:
    """Look up every (kind, field path, ComponentSpec) and validate its params with the component's model.

    Every card kind (run, attack, Data/MC, defence) goes through this, so the error lines read alike.
    """
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


def apply_overrides(data: dict[str, Any], overrides: list[str], label: str = "--set") -> dict[str, Any]:
    """Apply ``section.key=value`` overrides; values are parsed as YAML (``3`` int, ``[1, 2]`` list)."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not key.strip():
            raise CardError(f"--set {item!r}: expected KEY=VALUE, e.g. training.epochs=5")
        if not all(parts):
            raise CardError(f"--set {item!r}: empty key in {key.strip()!r}; expected e.g. training.epochs")
        try:
            value = safe_yaml(raw)
        except yaml.YAMLError:
            value = raw
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            node = _step(node, part, item, next_is_index=_is_index(parts[depth + 1]))
            if not isinstance(node, (dict, list)):
                raise CardError(f"--set {item!r}: cannot descend into {part!r}, it holds {_show(node)}, "
                                "not a mapping")
        last = parts[-1]
        if isinstance(node, list):
            node[_index(node, last, item)] = value
        else:
            node[last] = value
    return data


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


def describe_error(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """``field.path: expected ..., got ...`` for the first error (and how many more there are)."""
    errors = exc.errors()
    first = errors[0]
    loc = [_key(p) for p in first["loc"]]
    err_type = first["type"]
    got = first.get("input")
    if err_type == "extra_forbidden":
        valid = _field_names(model, first["loc"][:-1]) if model else []
        hint = difflib.get_close_matches(str(first["loc"][-1]), valid, n=1)
        text = "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        if valid:
            text += f"; valid keys: {', '.join(valid)}"
    elif err_type == "missing":
        text = "required field is missing"
    elif err_type in _TYPE_WORDS:
        bound = _bounds(model, first["loc"]) if model else ""
        text = f"expected {_TYPE_WORDS[err_type]}{bound}, got {_show(got)}"
    elif err_type in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        ops = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
        limit = next(iter((first.get("ctx") or {}).values()), "?")
        limit = f"{limit:g}" if isinstance(limit, float) else limit
        text = f"expected a value {ops[err_type]} {limit}, got {_show(got)}"
    elif err_type == "literal_error":
        text = f"expected {first['ctx']['expected']}, got {_show(got)}"
    else:
        msg = " ".join(first["msg"].removeprefix("Value error, ").split())
        text = f"{msg[0].lower()}{msg[1:]}" if msg else err_type
    path = ".".join(loc) if loc else "(top level)"
    more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{path}: {text}{more}"


def _key(part: Any) -> str:
    """A path component as written in a card; odd keys (spaces, newlines, empty) quoted so the line stays one."""
    text = str(part)
    return text if _PLAIN_KEY.fullmatch(text) else json.dumps(text)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _walk(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> Any:
    """The FieldInfo at ``loc`` inside ``model`` (None when it cannot be followed)."""
    import typing

    info = None
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        info = current.model_fields[part]
        current = info.annotation
        args = [a for a in typing.get_args(current) if isinstance(a, type) and issubclass(a, BaseModel)]
        if args:
            current = args[0]
    return info


def _field_names(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    if not loc:
        return sorted(model.model_fields) if model else []
    info = _walk(model, loc)
    if info is None:
        return []
    import typing

    candidates = [info.annotation, *typing.get_args(info.annotation)]
    for arg in candidates:
        for sub in [arg, *typing.get_args(arg)]:
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                return sorted(sub.model_fields)
    return []


def _bounds(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    info = _walk(model, loc)
    if info is None:
        return ""
    words = []
    for meta in info.metadata:
        for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                words.append(f"{op} {getattr(meta, attr)}")
    return (" " + " and ".join(words)) if words else ""


def resolved_card(card: RunCard) -> dict[str, Any]:
    """The card as plain data with defaults and validated component params filled in."""
    data = card.model_dump(mode="json")
    for _kind, where, spec in card.component_specs():
        node = data
        parts = where.split(".")
        for part in parts:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node["params"] = spec.validated_params.model_dump(mode="json")
    return data
