"""The CLI's renderer of ``hepadv.progress``: one rich live display for every bar, notes printed above it."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from hepadv.cli.console import console
from hepadv.progress import Progress as ProgressProtocol
from hepadv.progress import Task


class _Fields(ProgressColumn):
    """The task's figures as ``name value`` pairs (loss 0.31  12,000 jets/s)."""

    def render(self, task: Any) -> Text:
        parts = []
        for key, value in task.fields.items():
            if key.startswith("_") or value is None:
                continue
            if isinstance(value, float):
                text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
            else:
                text = str(value)
            unit = task.fields.get("_unit_" + key)
            parts.append(f"{text} {unit}" if unit else f"{key} {text}")
        return Text("  ".join(parts))


class _RichTask(Task):
    def __init__(self, owner: RichProgress, task_id: Any) -> None:
        self.owner, self.task_id = owner, task_id

    def advance(self, amount: float = 1, **fields: Any) -> None:
        self.owner.bars.update(self.task_id, advance=amount, **fields)

    def update(self, *, total: float | None = None, description: str | None = None, **fields: Any) -> None:
        kwargs: dict[str, Any] = dict(fields)
        if total is not None:
            kwargs["total"] = total
        if description is not None:
            kwargs["description"] = description
        self.owner.bars.update(self.task_id, **kwargs)

    def close(self) -> None:
        self.owner.close_task(self.task_id)


class RichProgress(ProgressProtocol):
    """Bars while tasks are open (transient: they vanish when done), notes as plain lines."""

    shows_bars = True

    def __init__(self, bars: bool = True) -> None:
        self.shows_bars = bars
        self.bars = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _Fields(),
                             TimeElapsedColumn(), console=console, transient=True)
        self.open = 0

    def task(self, description: str, total: float | None = None, unit: str = "", **fields: Any) -> Task:
        if not self.shows_bars:
            return Task()
        if self.open == 0:
            self.bars.start()
        self.open += 1
        units = {"_unit_rate": f"{unit}/s"} if unit else {}
        return _RichTask(self, self.bars.add_task(description, total=total, **units, **fields))

    def close_task(self, task_id: Any) -> None:
        self.bars.remove_task(task_id)
        self.open -= 1
        if self.open == 0:
            self.bars.stop()

    def note(self, text: str) -> None:
        console.print(text, highlight=False, markup=False, soft_wrap=True)


def cli_progress(enabled: bool) -> RichProgress:
    """What a command passes to the library: bars unless ``--no-progress``; notes always."""
    return RichProgress(bars=enabled)
