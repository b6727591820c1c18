"""Train-if-missing, in one place: every command that needs trained models (attack, datamc, defend) calls this.

A run card names its run folder (``output``); when a wanted variant has no trained model there, the card is
trained first (``resume=True``: completed epochs are kept), saying so in one line. ``complete=True`` also
finishes a training that stopped before its last epoch (the grey-box runs of ``hepadv defend`` need finished
models); otherwise a run with a best checkpoint is used as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepadv.errors import CheckpointError
from hepadv.progress import Progress, as_progress
from hepadv.runs.layout import RunLayout

if TYPE_CHECKING:
    from hepadv.cards.schema import RunCard
    from hepadv.training.loop import TrainResult


def missing_variants(card: RunCard, variants: list[str] | None = None) -> list[str]:
    """The wanted variants (default: all of the card's) without a best checkpoint in the card's run folder."""
    layout = RunLayout(card.output_dir())
    wanted = variants if variants is not None else [v.name for v in card.variants]
    return [v for v in wanted if not layout.has_trained(v)]


def unfinished_variants(card: RunCard, variants: list[str] | None = None) -> list[str]:
    """Wanted variants whose last checkpoint is missing or says training has not finished."""
    from hepadv.training.checkpoint import load_checkpoint

    layout = RunLayout(card.output_dir())
    out = []
    for v in variants if variants is not None else [v.name for v in card.variants]:
        last = layout.checkpoint(v, "last")
        if not last.is_file() or not load_checkpoint(last).get("finished", False):
            out.append(v)
    return out


def ensure_trained(card: RunCard, variants: list[str] | None = None, *, complete: bool = False,
                   train_if_missing: bool = True, device: str | None = None, progress: Progress | None = None,
                   why: str = "") -> TrainResult | None:
    """Train ``card`` when a wanted variant is missing (or, with ``complete``, unfinished); None when nothing ran.

    With ``train_if_missing`` False a missing variant is a one-line error saying which command trains it.
    """
    progress = as_progress(progress)
    missing = missing_variants(card, variants)
    todo = unfinished_variants(card, variants) if complete else missing
    if not todo:
        return None
    run_dir = card.output_dir()
    source = f"hepadv train {card.source}" if card.source is not None else "hepadv train CARD"
    if missing and not train_if_missing:
        trained = RunLayout(run_dir).trained_variants()
        raise CheckpointError(f"{run_dir}: no trained model for variant(s) {', '.join(missing)}; trained variants: "
                              f"{', '.join(trained) or 'none'}" + (f"; run {source}" if card.source else ""))
    from hepadv.training.loop import train

    verb = "no trained model" if missing else "unfinished training"
    progress.note(f"{run_dir}: {verb} for {', '.join(todo)}: training first ({source}){why}")
    return train(card, resume=True, device=device, progress=progress)
