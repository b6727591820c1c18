"""Checkpoints: written atomically, read with ``weights_only=True`` (no pickled code from disk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hepadv.errors import CheckpointError
from hepadv.io import atomic_path


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:
        # torch's own text runs to many lines and advises weights_only=False, i.e. running code from the file
        state = None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{path}: not a hepadv checkpoint, or written by a newer version")
    return state


def load_model_state(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """Load weights, turning a shape mismatch into a one-line error naming the checkpoint."""
    described = state.get("model", {})
    mine = getattr(model, "describe", lambda: {})()
    for key in ("name", "n_features", "n_classes", "params"):
        if key in described and key in mine and described[key] != mine[key]:
            raise CheckpointError(
                f"{path}: checkpoint is for a different model ({key} {described[key]!r}, this model has {mine[key]!r})"
            )
    try:
        model.load_state_dict(state["state_dict"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[-1].strip() if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: checkpoint does not fit this model ({first})") from None


def epoch_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(epoch, path) of every per-epoch checkpoint, in order."""
    found = []
    for p in directory.glob("epoch_*.pt"):
        try:
            found.append((int(p.stem.split("_")[1]), p))
        except (IndexError, ValueError):
            continue
    return sorted(found)
