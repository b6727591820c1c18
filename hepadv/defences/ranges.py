"""Attack parameters drawn from ranges, as in seed 004 table 6: ``min_change: "[0.001, 0.005] (uniform)"``.

A value is a plain number (fixed), a string ``"[lo, hi] (uniform)"`` or ``"[lo, hi] (log-uniform)"``, or a
two-number list ``[lo, hi]`` (uniform). Iterative adversarial training draws a fresh set per iteration from
its own seeded generator, so an iteration's attack is reproducible from the card's seed alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepadv.errors import CardError

_RANGE = re.compile(r"^\s*\[\s*([^,\]]+)\s*,\s*([^\]]+)\s*\]\s*(?:\(\s*([A-Za-z-]+)\s*\))?\s*$")
DISTRIBUTIONS = ("uniform", "log-uniform")


@dataclass(frozen=True)
class Range:
    """A closed interval and how to draw from it."""

    low: float
    high: float
    distribution: str = "uniform"

    def draw(self, rng: np.random.Generator) -> float:
        if self.distribution == "log-uniform":
            return float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        return float(rng.uniform(self.low, self.high))


def parse_range(value: Any, where: str) -> Range | None:
    """The ``Range`` a card value describes, None for a fixed value; a one-line ``CardError`` when malformed."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        m = _RANGE.match(value)
        if m is None:
            raise CardError(f"{where}: expected a range like \"[0.001, 0.005] (uniform)\", got {value!r}")
        try:
            low, high = float(m.group(1)), float(m.group(2))
        except ValueError:
            raise CardError(f"{where}: range bounds must be numbers, got {value!r}") from None
        dist = (m.group(3) or "uniform").lower()
    elif isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        low, high, dist = float(value[0]), float(value[1]), "uniform"
    else:
        return None
    if dist not in DISTRIBUTIONS:
        raise CardError(f"{where}: unknown distribution {dist!r} in {value!r}; "
                        f"expected one of {', '.join(DISTRIBUTIONS)}")
    if low > high:
        raise CardError(f"{where}: range minimum {low:g} is greater than its maximum {high:g} in {value!r}")
    if dist == "log-uniform" and low <= 0:
        raise CardError(f"{where}: a log-uniform range needs a positive minimum, got {low:g}")
    return Range(low, high, dist)


def parse_ranges(params: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Range]]:
    """Split ``params`` into fixed values and ranges (each range validated)."""
    fixed: dict[str, Any] = {}
    ranges: dict[str, Range] = {}
    for key, value in params.items():
        r = parse_range(value, f"{where}.{key}")
        if r is None:
            fixed[key] = value
        else:
            ranges[key] = r
    return fixed, ranges


def draw_params(params: dict[str, Any], rng: np.random.Generator,
                integer_fields: set[str] | frozenset[str] = frozenset(), where: str = "params") -> dict[str, Any]:
    """One concrete set: fixed values as given, each range drawn (rounded for integer fields), in key order."""
    fixed, ranges = parse_ranges(params, where)
    out = dict(fixed)
    for key in sorted(ranges):
        value = ranges[key].draw(rng)
        out[key] = round(value) if key in integer_fields else value
    return {k: out[k] for k in params}


def corner_params(params: dict[str, Any], which: str, integer_fields: set[str] | frozenset[str] = frozenset(),
                  ) -> dict[str, Any]:
    """Every range at its ``low`` or ``high`` end: validating both corners checks every draw's bounds."""
    fixed, ranges = parse_ranges(params, "params")
    out = dict(fixed)
    for key, r in ranges.items():
        v = r.low if which == "low" else r.high
        out[key] = round(v) if key in integer_fields else v
    return out


def integer_fields(params_model: type) -> set[str]:
    """Names of the int-typed fields of a pydantic Params model (drawn values are rounded for them)."""
    import typing

    out = set()
    for name, info in params_model.model_fields.items():  # type: ignore[attr-defined]
        ann = info.annotation
        args = typing.get_args(ann) or (ann,)
        if int in args and float not in args:
            out.add(name)
    return out
