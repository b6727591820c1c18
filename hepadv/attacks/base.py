"""The attack contract: one base class, one entry point, ``generate(model, x, y, spec, rng, progress)``.

Every place that takes an attack (run-card evaluation, ``hepadv attack``, Data/MC distortions, ``hepadv
defend``) calls ``generate`` and nothing else, so any registered attack works in all of them. What differs
between attacks is one hook:

- **per-event** attacks (FGSM, PGD, noise, shifts) implement ``perturb(model, x, y, masks, rng)`` on one batch;
  ``generate`` batches it, and batch i gets ``rng.at(start of batch i)``, so batching never changes a draw;
- **dataset-level** attacks (CONSERVAttack) subclass ``DatasetAttack`` and implement ``attack(model, x, y,
  spec, masks, rng, progress)`` on the whole set, because their constraints (histograms, correlations) are
  statistics over all events.

``generate`` checks shapes and labels, puts the model in eval mode and restores its state, and restores
integer features and defaulted values bit for bit whatever the hook did. ``rng`` is a ``RandomStream`` (or
None: draw from torch's global generator); ``progress`` a ``hepadv.progress.Progress`` (or None: silent).
Attacks keep no mutable state, so they pickle to dask workers and defence processes.

Plugin API 2 (``hepadv.PLUGIN_API``): a per-event plugin written for API 1, ``perturb(model, x, y, masks)``
without ``rng``, keeps working for API 2.x and is listed with a deprecation note by ``hepadv plugins``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import Field

from hepadv.components import Component, ComponentParams
from hepadv.data.masks import FeatureMasks
from hepadv.data.spec import FeatureSpec
from hepadv.errors import HepadvError, MissingLabelsError
from hepadv.ids import named_id
from hepadv.random import RandomStream

if TYPE_CHECKING:
    from hepadv.progress import Progress

__all__ = ["Attack", "AttackParams", "AttackResult", "DatasetAttack", "DatasetAttackParams", "FeatureMasks"]


class AttackParams(ComponentParams):
    batch_size: int = Field(65536, ge=1, le=2**26, description="events per forward/backward pass")


class DatasetAttackParams(ComponentParams):
    """Parameters common to dataset-level attacks (none; subclasses add theirs)."""


@dataclass
class AttackResult:
    """What ``generate`` returns.

    ``x_adv``: (n, d) scaled inputs, dtype and device of ``x``. ``fooled``: (n,) bool by the attack's own
    definition, or None when the attack has none (per-event attacks: callers decide with the model).
    ``history``: one dict per iteration of figures the attack tracked. ``info``: anything else worth reporting
    (regions, thresholds, the criterion it used for ``fooled``).
    """

    x_adv: torch.Tensor
    fooled: torch.Tensor | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


class Attack(Component):
    """Base of every attack. Per-event subclasses implement ``perturb``; see the module docstring.

    ``needs_labels`` False declares a label-free distortion (noise, shifts): it runs on data too, gets
    ``y=None``, and is left out of the transferability matrix, since it ignores the model.
    """

    name: ClassVar[str]
    kind: ClassVar[str] = "per-event"
    Params: ClassVar[type[ComponentParams]] = AttackParams
    needs_labels: ClassVar[bool] = True
    #: Set for API-1 plugins whose ``perturb`` takes no ``rng`` (called without it; see ``api_notes``).
    _legacy_perturb: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        perturb = cls.__dict__.get("perturb")
        if perturb is not None:
            cls._legacy_perturb = _takes_no_rng(perturb)

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        if isinstance(params, ComponentParams) and not kwargs:
            self.params = self.parse_params(params)
        else:
            base = params.model_dump() if isinstance(params, ComponentParams) else dict(params or {})
            self.params = self.parse_params({**base, **kwargs})

    # the one entry point
    def generate(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
                 rng: RandomStream | None = None, progress: Progress | None = None) -> AttackResult:
        """Attack ``x`` (n, d) scaled with class indices ``y`` (n,) (None only for label-free attacks)."""
        if self.needs_labels and y is None:
            raise MissingLabelsError(f"attack {self.name!r} needs truth labels, but this sample has none; use a "
                                     "label-free attack (e.g. gaussian_noise, systematic_shift)")
        if x.ndim != 2 or x.shape[1] != spec.n_features:
            raise HepadvError(f"attack {self.name!r}: inputs must be (n, {spec.n_features}) for this model, "
                              f"got {tuple(x.shape)}")
        if rng is not None and not isinstance(rng, RandomStream):
            raise TypeError(f"rng must be a hepadv.random.RandomStream or None, got {type(rng).__name__}")
        self.check(spec)
        labels = y if self.needs_labels else None
        if len(x) == 0:
            return AttackResult(x.clone(), torch.zeros(0, dtype=torch.bool, device=x.device))
        was_training = model.training
        model.eval()
        try:
            masks = FeatureMasks.from_spec(spec, x.device)
            result = self._generate(model, x, labels, spec, masks, rng, progress)
        finally:
            model.train(was_training)
        frozen = ~masks.movable(x)
        result.x_adv = torch.where(frozen, x, result.x_adv.detach().to(x.dtype))
        return result

    def __call__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
                 rng: RandomStream | None = None) -> torch.Tensor:
        """Shorthand for ``generate(...).x_adv``."""
        return self.generate(model, x, y, spec, rng).x_adv

    def check(self, spec: FeatureSpec) -> None:
        """Raise a one-line ``HepadvError`` if the params do not fit this model's features (before any work)."""

    # the per-event hook
    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                rng: RandomStream | None) -> torch.Tensor:
        """Perturbed copy of one batch (scaled); ``rng`` None means draw from torch's global generator."""
        raise NotImplementedError(f"attack {self.name!r} implements neither perturb nor a dataset-level attack")

    def perturb_batch(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                      rng: RandomStream | None = None) -> torch.Tensor:
        """``perturb`` for one batch, also for API-1 plugins without ``rng`` (the training step calls this)."""
        if self._legacy_perturb:
            return self.perturb(model, x, y, masks)  # type: ignore[call-arg]
        return self.perturb(model, x, y, masks, rng)

    def _generate(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
                  masks: FeatureMasks, rng: RandomStream | None, progress: Progress | None) -> AttackResult:
        bs = int(getattr(self.params, "batch_size", 65536))
        out = [self.perturb_batch(model, x[i : i + bs], None if y is None else y[i : i + bs], masks,
                                  None if rng is None else rng.at(i))
               for i in range(0, len(x), bs)]
        return AttackResult(torch.cat(out))

    # naming, once for every attack
    def main_params(self) -> dict[str, Any]:
        """The params that change the result (``batch_size`` does not)."""
        return {k: v for k, v in self.params.model_dump(mode="json").items() if k != "batch_size"}

    def id(self) -> str:
        """Stable key for results and output folders: the name plus a content id of the params (``fgsm-3e3cbd9a``)."""
        return named_id(self.name, self.main_params())

    def short_label(self) -> str:
        """Legend text, e.g. ``fgsm ε=0.01``."""
        eps = getattr(self.params, "epsilon", None)
        return self.name if eps is None else f"{self.name} ε={eps:g}"

    def label(self) -> str:
        """Text for tables, e.g. ``fgsm(epsilon=0.01, relative_cap=0.25)``."""
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in self.main_params().items()) + ")"

    def describe(self) -> dict[str, Any]:
        """The attack as data, for metrics files: id, name, kind, params, labels."""
        return {"id": self.id(), "name": self.name, "kind": self.kind, "params": self.main_params(),
                "label": self.short_label(), "needs_labels": self.needs_labels}

    @classmethod
    def api_notes(cls) -> list[str]:
        """Deprecations of an older plugin API this class still relies on (shown by ``hepadv plugins``)."""
        if cls._legacy_perturb:
            return [f"attack {cls.name!r}: perturb(model, x, y, masks) is plugin API 1; add the rng argument "
                    "(perturb(model, x, y, masks, rng)) before API 3, which will refuse it"]
        return []

    @classmethod
    def api_problem(cls) -> str | None:
        """Why this class cannot run under the current plugin API (None: it can); refused at load."""
        if cls.kind == "per-event" and "perturb" not in _overrides(cls, Attack):
            return (f"attack {getattr(cls, 'name', cls.__name__)!r} implements no perturb (per-event) and does not "
                    "subclass hepadv.attacks.base.DatasetAttack (dataset-level)")
        return None


class DatasetAttack(Attack):
    """Base of dataset-level attacks: implement ``attack`` on the whole set (CONSERVAttack)."""

    kind: ClassVar[str] = "dataset"
    Params: ClassVar[type[ComponentParams]] = DatasetAttackParams

    def attack(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
               masks: FeatureMasks, rng: RandomStream | None, progress: Progress | None) -> AttackResult:
        """The whole-set attack; ``generate`` has checked the inputs and restores frozen features after."""
        raise NotImplementedError

    def run(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
            rng: RandomStream | None = None, progress: Progress | None = None) -> AttackResult:
        """Plugin API 1 name of ``generate`` (kept for API 2.x)."""
        return self.generate(model, x, y, spec, rng, progress)

    def _generate(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
                  masks: FeatureMasks, rng: RandomStream | None, progress: Progress | None) -> AttackResult:
        if len(x) < 2:  # no distribution to preserve (e.g. a Data/MC chunk with one jet): nothing moves
            return AttackResult(x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device),
                                info={"note": "fewer than 2 events: left unchanged"})
        return self.attack(model, x, y, spec, masks, rng, progress)

    def short_label(self) -> str:
        return self.name

    @classmethod
    def api_problem(cls) -> str | None:
        if "attack" not in _overrides(cls, DatasetAttack):
            return f"dataset-level attack {getattr(cls, 'name', cls.__name__)!r} implements no attack(...) method"
        return None


#: The API-2 name of the dataset-level result, kept for API-1 plugins.
DatasetAttackResult = AttackResult


def _takes_no_rng(function: Any) -> bool:
    """True for ``perturb(self, model, x, y, masks)``: four positional arguments besides self, no ``rng``."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return False
    return len(params) == 5 and "rng" not in {p.name for p in params}


def _overrides(cls: type, base: type) -> set[str]:
    """Methods ``cls`` or one of its bases below ``base`` defines."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is base:
            break
        names |= set(vars(klass))
    return names


def attack_kind(cls: type) -> str:
    """``"dataset"`` or ``"per-event"`` for a registered attack class."""
    return getattr(cls, "kind", "per-event")
