"""How library code reports progress and messages without knowing who listens.

Library functions take ``progress: Progress | None`` and use ``progress or SILENT``. ``Progress`` itself is the
silent implementation: bars do nothing and notes go to the ``hepadv`` logger. ``hepadv.cli`` passes a subclass
that renders with rich; notebooks, tests and dask workers get silence. Nothing outside ``hepadv.cli`` imports rich
progress bars or the CLI's console.

    with progress.task("nominal epoch 3/15", total=len(loader), unit="batch") as bar:
        for batch in loader:
            ...
            bar.advance(1, loss=0.31, rate=12_000)
    progress.note("trained nominal: best epoch 12")
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("hepadv")


class Task:
    """One unit of work with an optional total; ``fields`` are named figures shown beside the bar."""

    def advance(self, amount: float = 1, **fields: Any) -> None:
        """``amount`` more done; ``fields`` update the figures shown (e.g. ``loss=0.3``)."""

    def update(self, *, total: float | None = None, description: str | None = None, **fields: Any) -> None:
        """Change the total, the description or figures without advancing."""

    def close(self) -> None:
        """The work is over (the bar disappears)."""

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Progress:
    """The progress protocol, and its silent implementation (the default everywhere outside the CLI)."""

    #: False when bars are not shown: callers may skip work done only for display (e.g. a GPU sync).
    shows_bars: bool = False

    def task(self, description: str, total: float | None = None, unit: str = "", **fields: Any) -> Task:
        """A new task; use it as a context manager so it closes on errors too."""
        return Task()

    def note(self, text: str) -> None:
        """A message for the user (what happens and why), one line."""
        log.info(text)


SILENT = Progress()


def as_progress(progress: Progress | bool | None) -> Progress:
    """``progress`` or the silent default (also for the plugin-API-1 booleans, which only the CLI could render)."""
    return progress if isinstance(progress, Progress) else SILENT
