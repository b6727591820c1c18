"""Names and ids: one content id for everything hepadv names by what it holds: cards, attacks, caches, output folders.

``content_id(payload)`` hashes the canonical JSON of ``payload`` (sorted keys, no whitespace, no NaN), so equal
content gives equal ids on every machine, Python version and ``PYTHONHASHSEED``. Arrays hash by their bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from hepadv.errors import HepadvError

#: Names that may become one path component (variants, selections, card names, attack ids): letters, digits,
#: ``_ . + -``, at most 100 characters, not starting with a dot; so no card value can write outside its folder.
SAFE_NAME_PATTERN = r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,99}$"
SAFE_NAME = re.compile(SAFE_NAME_PATTERN[1:-1])


def check_name(name: str, what: str) -> str:
    """``name`` if it is safe as one path component, else a one-line error naming ``what`` it is."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise HepadvError(f"{what} {name!r}: expected letters, digits, '_', '.', '+' or '-' (at most 100, not "
                          "starting with '.'), so that it stays one folder name")
    return name


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data: paths as text, tuples as lists, arrays as a digest of dtype, shape and bytes."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(mode="json"))
    if hasattr(value, "tobytes") and hasattr(value, "dtype"):
        digest = hashlib.sha256(value.tobytes()).hexdigest()
        return {"array": digest, "dtype": str(value.dtype), "shape": list(getattr(value, "shape", ()))}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise TypeError(f"content_id: cannot hash {type(value).__name__} as content")


def canonical_json(payload: Any) -> str:
    """Sorted, compact JSON of ``payload`` (the text every content id is computed from)."""
    return json.dumps(_plain(payload), sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_id(payload: Any, length: int = 16) -> str:
    """``length`` hex digits of sha256 over the canonical JSON of ``payload``."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:length]


def named_id(name: str, payload: Any, length: int = 8) -> str:
    """``<name>-<content id>``, e.g. ``fgsm-1f0c3a9b``: ids of attacks, defences and their output folders."""
    return f"{name}-{content_id(payload, length)}"
