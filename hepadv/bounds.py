"""Bounds checked before any work: a size that cannot fit is refused in one line, not found out hours later."""

from __future__ import annotations

import os

#: Largest batch hepadv accepts (a batch is held whole on the device).
MAX_BATCH = 1 << 24
#: Largest generated toy sample (events or jets): generation time and disk grow linearly with it.
MAX_GENERATED = 100_000_000


def total_memory() -> int | None:
    """Physical memory of this machine in bytes, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover


def check_memory(what: str, needed: int) -> None:
    """ValueError (a card field's message) when ``needed`` bytes exceed this machine's memory."""
    have = total_memory()
    if have is not None and needed > have:
        raise ValueError(f"{what} would need ~{human_bytes(needed)} of memory; this machine has {human_bytes(have)}")
