"""Systematic up/down shifts (paper app. B.3, eq. 7): every input moved the same way at once."""

from __future__ import annotations

import fnmatch
from typing import Annotated, ClassVar, Literal

import torch
from pydantic import Field

from hepadv.attacks.base import Attack, AttackParams, FeatureMasks
from hepadv.errors import HepadvError
from hepadv.random import RandomStream


class SystematicShift(Attack):
    """x_i -> x_i +- magnitude * s_i in scaled space, s_i in {1..5} per feature (paper eq. 7).

    s_i counts how many 0.1 steps the worst data/simulation ratio of input i is away from 1 in
    commissioning plots; ``factors`` maps feature names or shell patterns (``*Sip3d*``) to s_i, later
    entries winning, and every other feature gets ``default_factor``. Integers and defaults stay;
    the paper applies no 25 % cap here (the factors already limit the shift), so ``relative_cap`` is
    off by default.
    """

    name: ClassVar[str] = "systematic_shift"
    needs_labels: ClassVar[bool] = False

    class Params(AttackParams):
        direction: Literal["up", "down"] = "up"
        magnitude: float = Field(0.05, ge=0, description="baseline shift, scaled units")
        factors: dict[str, Annotated[int, Field(ge=1, le=5)]] = Field(
            default_factory=dict, description="feature name or shell pattern -> s_i (1..5)")
        default_factor: int = Field(1, ge=1, le=5)
        relative_cap: float | None = Field(None, gt=0)

    def short_label(self) -> str:
        return f"shift {self.params.direction} {self.params.magnitude:g}·s"

    def factor_per_feature(self, names: tuple[str, ...]) -> torch.Tensor:
        """s_i for every feature; an entry that matches no feature is a user error, not a silent no-op."""
        p = self.params
        s = torch.full((len(names),), float(p.default_factor))
        for pattern, factor in p.factors.items():
            hits = [j for j, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
            if not hits:
                raise HepadvError(f"systematic_shift: factors: {pattern!r} matches no input feature "
                                  f"(e.g. {', '.join(names[:3])}, ...)")
            s[hits] = float(factor)
        return s

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                rng: RandomStream | None = None) -> torch.Tensor:
        p = self.params
        size = p.magnitude * self.factor_per_feature(masks.names).to(x.device)  # microseconds: no cache state
        sign = 1.0 if p.direction == "up" else -1.0
        return (x + masks.bounded_step(x, torch.full_like(x, sign), size, p.relative_cap)).detach()
