"""Card error text: one line naming the field, what was expected and what was given (quoted values are cut short).

``describe_error`` turns pydantic's first validation error into ``field.path: expected ..., got ...``; values are
shown by ``show``, which never walks a large or deeply nested value, so an error about a YAML alias bomb or a
50 MB string prints instantly.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError

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
        text = f"expected {_TYPE_WORDS[err_type]}{bound}, got {show(got)}"
    elif err_type in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        ops = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
        limit = next(iter((first.get("ctx") or {}).values()), "?")
        limit = f"{limit:g}" if isinstance(limit, float) else limit
        text = f"expected a value {ops[err_type]} {limit}, got {show(got)}"
    elif err_type == "literal_error":
        text = f"expected {first['ctx']['expected']}, got {show(got)}"
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


def show(value: Any) -> str:
    """A short rendering of a card value for an error line (at most 60 characters)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, str):
        text = json.dumps(value[:80], ensure_ascii=False)
    elif isinstance(value, (int, float, bool)) or value is None:
        big = isinstance(value, int) and abs(value) >= 10**30
        text = f"a {value.bit_length()}-bit integer" if big else repr(value)
    else:
        text = type(value).__name__
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
