"""Path handling shared by cards and component parameters: relative paths resolve against the card."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo


def _resolve(value: Path, info: ValidationInfo) -> Path:
    value = Path(os.path.expanduser(str(value)))
    base = (info.context or {}).get("base_dir") if info.context else None
    if not value.is_absolute() and base is not None:
        value = Path(base) / value
    return value


#: A path in a card: ``~`` expanded, relative paths taken from the card's folder.
CardPath = Annotated[Path, AfterValidator(_resolve)]


def cache_dir() -> Path:
    """Where generated and preprocessed data are cached (``HEPADV_CACHE_DIR``, default ``~/.cache/hepadv``)."""
    return Path(os.environ.get("HEPADV_CACHE_DIR", Path.home() / ".cache" / "hepadv"))
