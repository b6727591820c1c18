"""Base for every pluggable component: a ``name`` and a nested pydantic ``Params`` model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class ComponentParams(BaseModel):
    """Parameters of a component; unknown keys are errors so a typo in a card never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Component:
    """Common shape of datasets, models, attacks, defences: ``name``, ``Params``, construction from a card."""

    name: ClassVar[str]
    Params: ClassVar[type[ComponentParams]] = ComponentParams

    @classmethod
    def api_notes(cls) -> list[str]:
        """Deprecated plugin-API usages this class relies on (listed by ``hepadv plugins``; still working)."""
        return []

    @classmethod
    def api_problem(cls) -> str | None:
        """Why this class cannot work under the current plugin API; the registry refuses it at load (one line)."""
        return None

    @classmethod
    def parse_params(cls, params: dict[str, Any] | ComponentParams | None, base_dir: Path | None = None) -> Any:
        """Validate ``params`` with this component's ``Params`` (paths resolved against ``base_dir``)."""
        if isinstance(params, cls.Params):
            return params
        return cls.Params.model_validate(params or {}, context={"base_dir": base_dir})
