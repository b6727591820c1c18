"""File templates of ``hepadv plugins new``, one set per component kind (``string.Template``, ``$name`` fields).

Every generated component is a small, working one (not a stub) that its generated test exercises, so
the author starts from something that installs, registers and passes, and changes it step by step.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hepadv.scaffold import PluginName


@dataclass(frozen=True)
class Kind:
    key: str  # what --kind takes
    hook: str  # the hook the package implements
    module: str  # submodule holding the component
    registry_kind: str | None  # registry to check the name against (None: commands)
    word: str  # "attack", "dataset"... for texts
    summary: str  # one line for pyproject/README
    component: str  # source of the component submodule
    test: str  # source of tests/test_<component>.py
    usage: str  # README usage block


PYPROJECT = """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "hepadv plugin: $summary"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["$requires"]

[project.optional-dependencies]
test = ["pytest>=8"]

# hepadv finds the plugin through this entry point: name = the component name, value = the hook module.
[project.entry-points.hepadv]
$component = "$package"

[tool.setuptools]
packages = ["$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

HOOK = '''\
"""hepadv plugin ``$component``: $summary

Only the hook lives here. Every ``hepadv`` command imports this module when it loads plugins, so it
imports nothing heavy: the $word sits at module level in ``$package.$module`` (so it pickles to dask
workers) and is imported inside the hook.
"""

from __future__ import annotations

import hepadv
from hepadv.registry.hookspecs import Register


@hepadv.hookimpl
def $hook(register: Register) -> None:
    from $package.$module import $cls

    register($cls)
'''

COMMAND_HOOK = '''\
"""hepadv plugin ``$component``: $summary

Only the hook lives here. Every ``hepadv`` command (``--help`` included) imports this module and runs
the hook, so both stay light: the command module imports its heavy dependencies inside the command.
"""

from __future__ import annotations

from typing import Any

import hepadv


@hepadv.hookimpl
def register_commands(app: Any) -> None:
    from $package.command import $component

    app.command("$command")($component)
'''

README = """\
# $distribution

hepadv plugin: $summary

Install it next to hepadv (the package depends on `$requires`):

    pip install -e .          # or: pip install .
    hepadv plugins            # lists "$component"

$usage
Run its tests:

    pip install -e ".[test]"
    pytest

Written from the template of `hepadv plugins new`; see hepadv's `docs/plugins.md` for the interface
of every component kind and the conventions (light hook module, module-level classes, version range).
"""

# Shared by the attack tests: a three-feature spec (one integer feature) and a linear model.
_TEST_FIXTURES = '''\
def make_spec() -> FeatureSpec:
    """Three inputs in original units = scaled units (mean 0, std 1); ``n_tracks`` is an integer feature."""
    return FeatureSpec(names=("sip3d", "mass_sv", "n_tracks"), integer=np.array([False, False, True]),
                       defaults=np.full(3, -10.0), mean=np.zeros(3), std=np.ones(3), classes=("light", "b"),
                       missing=MissingRules(placeholders=(), deepcsv=False))


def make_inputs(n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=gen)
    x[:, 2] = torch.randint(0, 5, (n,), generator=gen).float()
    x[::10, 1] = -10.0  # defaulted values (e.g. no secondary vertex) must never move
    return x, torch.randint(0, 2, (n,), generator=gen)


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def test_registered_through_the_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "$component")
    reset()
    try:
        assert hepadv.get_attack("$component") is $cls
    finally:
        reset()
'''

ATTACK = '''\
"""The ``$component`` attack: the L2 fast gradient method, a step of L2 length ``epsilon`` along the loss gradient.

Unlike FGSM (a step of ``epsilon`` in every feature), the step goes where the gradient is largest.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from hepadv.attacks.base import Attack, AttackParams, FeatureMasks
from hepadv.random import RandomStream


class $cls(Attack):
    """x + epsilon g / |g|, g = grad_x J on the movable features (scaled units); J = ``model.attack_loss``.

    Needs labels (J compares predictions with the truth). Integer features and defaulted values never
    move; ``relative_cap`` limits each feature's shift to that fraction of |x| in original units.
    Shapes: x (batch, n_features) scaled float32, y (batch,) int64 class indices.
    """

    name: ClassVar[str] = "$component"
    needs_labels: ClassVar[bool] = True

    class Params(AttackParams):
        epsilon: float = Field(0.05, ge=0, description="L2 length of the step per jet, scaled units")
        relative_cap: float | None = Field(0.25, gt=0, description="cap as a fraction of |x| (original units)")

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                rng: RandomStream | None = None) -> torch.Tensor:
        from hepadv.attacks.fgsm import loss_gradient

        if y is None:
            raise ValueError("$component needs labels")
        grad = torch.where(masks.movable(x), loss_gradient(model, x, y), 0.0)
        direction = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return (x + masks.bounded_step(x, direction, self.params.epsilon, self.params.relative_cap)).detach()
'''

ATTACK_TEST = '''\
"""$cls: moves only what may move, by at most epsilon (L2), raises the loss, pickles, registers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import hepadv
from hepadv.data.spec import FeatureSpec, MissingRules
from hepadv.registry import reset
from $package.attack import $cls

''' + _TEST_FIXTURES + '''

def test_step_is_bounded_and_spares_integers_and_defaults() -> None:
    x, y = make_inputs()
    x_adv = $cls(epsilon=0.05, relative_cap=None)(make_model(), x, y, make_spec())
    shift = x_adv - x
    assert torch.equal(shift[:, 2], torch.zeros(len(x)))  # integer feature
    assert torch.equal(shift[::10, 1], torch.zeros(len(x[::10])))  # defaulted values
    assert float(shift.norm(dim=1).max()) <= 0.05 + 1e-6
    assert float(shift.norm(dim=1).mean()) > 0.04  # it does move the jets


def test_raises_the_loss() -> None:
    model, (x, y) = make_model(), make_inputs()
    x_adv = $cls(epsilon=0.2, relative_cap=None)(model, x, y, make_spec())
    loss = torch.nn.functional.cross_entropy
    with torch.no_grad():
        assert float(loss(model(x_adv), y)) > float(loss(model(x), y))


def test_pickles() -> None:
    attack = $cls(epsilon=0.1)
    assert pickle.loads(pickle.dumps(attack)).params == attack.params
'''

LABEL_FREE_ATTACK = '''\
"""The ``$component`` distortion: uniform jitter of every movable input, a model-blind mismodelling."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from hepadv.attacks.base import Attack, AttackParams, FeatureMasks
from hepadv.random import RandomStream


class $cls(Attack):
    """x + U(-width, width) in scaled units on the movable features; integers and defaults never move.

    Label-free (``needs_labels = False``): it ignores y and the model, so it runs on data as well and
    stays out of the transferability matrix. The draws come from the caller's ``RandomStream`` (the same
    jets get the same jitter however the sample is chunked), or from torch's global generator when the
    caller passes none (training). Shapes: x (batch, n_features) scaled float32.
    """

    name: ClassVar[str] = "$component"
    needs_labels: ClassVar[bool] = False

    class Params(AttackParams):
        width: float = Field(0.05, ge=0, description="half width of the jitter, scaled units")
        relative_cap: float | None = Field(0.25, gt=0, description="cap as a fraction of |x| (original units)")

    def perturb(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, masks: FeatureMasks,
                rng: RandomStream | None = None) -> torch.Tensor:
        if rng is None:
            u = torch.rand(x.shape, device=x.device, dtype=x.dtype)
        else:
            u = rng.uniform(tuple(x.shape), device=x.device, dtype=x.dtype)
        jitter = self.params.width * (2 * u - 1)
        return x + masks.bounded_step(x, jitter.sign(), jitter.abs(), self.params.relative_cap)
'''

LABEL_FREE_TEST = '''\
"""$cls: bounded, label-free, the same jitter for the same rows whatever the batching, pickles, registers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import hepadv
from hepadv.data.spec import FeatureSpec, MissingRules
from hepadv.random import RandomStream
from hepadv.registry import reset
from $package.attack import $cls

''' + _TEST_FIXTURES + '''

def test_bounded_and_spares_integers_and_defaults() -> None:
    x, _ = make_inputs()
    x_adv = $cls(width=0.1, relative_cap=None)(make_model(), x, None, make_spec(), RandomStream(1))
    shift = x_adv - x
    assert $cls.needs_labels is False
    assert torch.equal(shift[:, 2], torch.zeros(len(x)))
    assert torch.equal(shift[::10, 1], torch.zeros(len(x[::10])))
    assert float(shift.abs().max()) <= 0.1 + 1e-6 and float(shift.abs().mean()) > 0.03


def test_batching_does_not_change_the_draws() -> None:
    x, _ = make_inputs()
    model, spec, rng = make_model(), make_spec(), RandomStream(7)
    whole = $cls(width=0.1, batch_size=1000)(model, x, None, spec, rng)
    chunked = $cls(width=0.1, batch_size=37)(model, x, None, spec, rng)
    assert torch.equal(whole, chunked)
    other_seed = $cls(width=0.1)(model, x, None, spec, RandomStream(8))
    assert not torch.equal(whole, other_seed)


def test_pickles() -> None:
    attack = $cls(width=0.2)
    assert pickle.loads(pickle.dumps(attack)).params == attack.params
'''

DATASET = '''\
"""The ``$component`` dataset: seeded two-class toy jets; replace ``load`` with reading your own files."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from hepadv.components import ComponentParams
from hepadv.data.base import Dataset, MissingRules, RawJets


class $cls(Dataset):
    """Light (class 0) and b (class 1) jets with three inputs in original units.

    ``sip3d`` (leading-track impact-parameter significance) is NaN for jets without tracks: missing
    values are delivered as they come (NaN or a placeholder) and ``FeatureSpec.transform`` replaces them
    by a per-feature default. ``n_tracks`` is an integer feature (attacks never move it). pt in GeV and
    eta feed the kinematic reweighting.
    """

    name: ClassVar[str] = "$component"

    class Params(ComponentParams):
        n_jets: int = Field(20_000, ge=10)
        seed: int = 0
        separation: float = Field(1.5, ge=0, description="mean sip3d of b jets, in units of its width")

    def load(self) -> RawJets:
        p = self.params
        rng = np.random.default_rng(p.seed)
        labels = rng.integers(0, 2, p.n_jets)
        n_tracks = rng.poisson(1.5 + 2.0 * labels)
        sip3d = rng.normal(p.separation * labels, 1.0)
        sip3d[n_tracks == 0] = np.nan
        mass_sv = rng.gamma(2.0 + 2.0 * labels, 0.6)
        return RawJets(
            features=np.column_stack([sip3d, mass_sv, n_tracks]).astype(np.float32),
            labels=labels.astype(np.int64),
            pt=(20.0 + rng.exponential(60.0, p.n_jets)).astype(np.float32),
            eta=rng.uniform(-2.4, 2.4, p.n_jets).astype(np.float32),
            feature_names=("sip3d", "mass_sv", "n_tracks"),
            integer_features=("n_tracks",),
            classes=("light", "b"),
            missing=MissingRules(placeholders=(), deepcsv=False),
        )
'''

DATASET_TEST = '''\
"""$cls: shapes and units, missing values, preprocessing end to end, a card naming it, registration."""

from __future__ import annotations

import numpy as np
import pytest

from hepadv.cards.load import validate_card
from hepadv.cards.schema import PreprocessSection
from hepadv.data.preprocess import prepare
from hepadv.registry import reset
from $package.dataset import $cls


def load(**params: object):  # type: ignore[no-untyped-def]
    return $cls($cls.parse_params(params)).load()


def test_raw_jets() -> None:
    raw = load(n_jets=2000)
    assert raw.features.shape == (2000, 3) and raw.features.dtype == np.float32
    assert set(np.unique(raw.labels)) == {0, 1}
    no_tracks = raw.features[:, 2] == 0
    assert no_tracks.any() and np.isnan(raw.features[no_tracks, 0]).all()
    assert np.array_equal(raw.features[:, 2], np.round(raw.features[:, 2]))
    assert np.array_equal(load(n_jets=2000).features, raw.features, equal_nan=True)  # seeded


def test_preprocesses() -> None:
    data = prepare(load(n_jets=2000), PreprocessSection(), seed=0)
    assert data.spec.classes == ("light", "b") and list(data.spec.integer) == [False, False, True]
    assert np.isfinite(data.train.x).all()


def test_card_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "$component")
    reset()
    try:
        card = validate_card({"dataset": {"name": "$component", "params": {"n_jets": 500}}})
        assert card.dataset.validated_params.n_jets == 500
    finally:
        reset()
'''

MODEL = '''\
"""The ``$component`` model: a one-hidden-layer MLP tagger."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from hepadv.components import ComponentParams
from hepadv.models.base import Model


class $cls(Model):
    """(batch, n_features) scaled inputs -> (batch, n_classes) logits; softmax is hepadv's job."""

    name: ClassVar[str] = "$component"

    class Params(ComponentParams):
        hidden: int = Field(64, ge=1)
        dropout: float = Field(0.1, ge=0, lt=1)

    def __init__(self, params: Any, n_features: int, n_classes: int) -> None:
        super().__init__(params, n_features, n_classes)
        self.net = nn.Sequential(nn.Linear(n_features, params.hidden), nn.ReLU(), nn.Dropout(params.dropout),
                                 nn.Linear(params.hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
'''

MODEL_TEST = '''\
"""$cls: output shape, probabilities, rebuilt from its description (how checkpoints load it), registration."""

from __future__ import annotations

import pytest
import torch

from hepadv.models.base import model_from_description
from hepadv.registry import reset
from $package.model import $cls


def test_logits_and_probabilities() -> None:
    model = $cls($cls.parse_params({"hidden": 16}), n_features=5, n_classes=3)
    x = torch.randn(40, 5)
    assert model(x).shape == (40, 3)
    assert torch.allclose(model.predict_proba(x).sum(dim=1), torch.ones(40))


def test_rebuilt_from_description(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "$component")
    reset()
    try:
        model = $cls($cls.parse_params({"hidden": 16, "dropout": 0.0}), n_features=5, n_classes=3).eval()
        copy = model_from_description(model.describe())
        copy.load_state_dict(model.state_dict())
        x = torch.randn(10, 5)
        assert type(copy) is $cls and torch.equal(copy.eval()(x), model(x))
    finally:
        reset()
'''

DEFENCE = '''\
"""The ``$component`` training defence: Gaussian-noise augmentation of every minibatch."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from hepadv.components import ComponentParams
from hepadv.data.masks import FeatureMasks
from hepadv.defences.base import LossFn, TrainingDefence


class $cls(TrainingDefence):
    """Loss a J(x) + (1 - a) J(x + noise): noise N(0, sigma^2) in scaled units on the movable features.

    The noise comes from torch's global generator: the training loop seeds it from the card and
    checkpoints restore it, so ``--resume`` continues the same sequence. Shapes: x (batch, n_features)
    scaled, y (batch,) int64, w (batch,) per-jet weights; ``loss_fn(logits, y, w)`` is the training loss.
    """

    name: ClassVar[str] = "$component"

    class Params(ComponentParams):
        sigma: float = Field(0.05, ge=0, description="noise width, scaled units")
        mix_alpha: float = Field(0.5, ge=0, le=1, description="weight of the clean loss")

    def batch_loss(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
                   loss_fn: LossFn, masks: FeatureMasks) -> torch.Tensor:
        noise = self.params.sigma * torch.randn_like(x)
        x_noisy = x + masks.bounded_step(x, noise.sign(), noise.abs(), None)
        a = self.params.mix_alpha
        return a * loss_fn(model(x), y, w) + (1 - a) * loss_fn(model(x_noisy), y, w)
'''

DEFENCE_TEST = '''\
"""$cls: the nominal loss at sigma 0, reproducible under the training seed, differentiable, registration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hepadv
from hepadv.data.masks import FeatureMasks
from hepadv.data.spec import FeatureSpec, MissingRules
from hepadv.registry import reset
from $package.defence import $cls


def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (torch.nn.functional.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum()


def setup():  # type: ignore[no-untyped-def]
    spec = FeatureSpec(names=("a", "b", "n"), integer=np.array([False, False, True]), defaults=np.full(3, -10.0),
                       mean=np.zeros(3), std=np.ones(3), classes=("light", "b"),
                       missing=MissingRules(placeholders=(), deepcsv=False))
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x, y, w = torch.randn(64, 3), torch.randint(0, 2, (64,)), torch.ones(64)
    return model, x, y, w, FeatureMasks.from_spec(spec, "cpu")


def test_no_noise_is_nominal_training() -> None:
    model, x, y, w, masks = setup()
    loss = $cls(sigma=0.0).batch_loss(model, x, y, w, loss_fn, masks)
    assert torch.allclose(loss, loss_fn(model(x), y, w))


def test_seeded_and_differentiable() -> None:
    model, x, y, w, masks = setup()
    defence = $cls(sigma=0.5)
    torch.manual_seed(3)
    first = defence.batch_loss(model, x, y, w, loss_fn, masks)
    torch.manual_seed(3)
    assert torch.equal(first, defence.batch_loss(model, x, y, w, loss_fn, masks))
    first.backward()
    assert model.weight.grad is not None and float(model.weight.grad.abs().sum()) > 0


def test_registered_through_the_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "$component")
    reset()
    try:
        assert hepadv.get_defence("$component") is $cls
    finally:
        reset()
'''

FILTER = '''\
"""The ``$component`` filter defence: distance to the clean mean, scored against the clean distances."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field

from hepadv.components import ComponentParams
from hepadv.defences.base import FilterDefence


class $cls(FilterDefence):
    """Score = share of (a seeded subset of) clean train events at least as far from the clean mean.

    Distances are RMS over features of (x - mean) / std of the clean events, so the score of a clean input
    is uniform on [0, 1] and ``threshold`` is the clean rejection rate. It catches adversaries that move
    away from the clean bulk; ones moved toward it (the donut's) need a filter that learns from the
    adversaries as well (see the built-in ``detector``). Inputs are scaled float32 (n, n_features).
    """

    name: ClassVar[str] = "$component"

    class Params(ComponentParams):
        threshold: float = Field(0.05, gt=0, lt=1, description="score below it: rejected (clean rejection rate)")
        max_reference: int = Field(20000, ge=2, description="clean distances kept (random subset, seeded)")

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.mean = self.std = self.reference = torch.zeros(0)

    def fit(self, clean: torch.Tensor, adversarial: torch.Tensor, clean_val: torch.Tensor,
            adversarial_val: torch.Tensor, seed: int, progress: Any = None) -> dict[str, Any]:
        clean = clean.float()
        self.mean, self.std = clean.mean(dim=0), clean.std(dim=0).clamp_min(1e-6)
        keep = torch.randperm(len(clean), generator=torch.Generator().manual_seed(seed))[: self.params.max_reference]
        self.reference = self._distance(clean[keep]).sort().values
        return {"val_clean_accepted": [float(self.accepts(clean_val).float().mean())],
                "val_adversarial_caught": [float((~self.accepts(adversarial_val)).float().mean())]}

    def _distance(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.float() - self.mean) / self.std).pow(2).mean(dim=1).sqrt()

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        if not len(self.reference):
            raise RuntimeError("$component is not fitted; call fit or load_state_dict first")
        below = torch.searchsorted(self.reference, self._distance(x).contiguous())
        return 1.0 - below.float() / len(self.reference)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "reference": self.reference}

    def load_state_dict(self, state: dict[str, Any], n_features: int) -> None:
        self.mean, self.std, self.reference = state["mean"], state["std"], state["reference"]
        if self.mean.shape != (n_features,):
            raise ValueError(f"state holds {tuple(self.mean.shape)} means, expected ({n_features},)")
'''

FILTER_TEST = '''\
"""$cls: clean inputs pass at the threshold's rate, far ones are caught, seeded, state round trip, registration."""

from __future__ import annotations

import io

import pytest
import torch

import hepadv
from hepadv.registry import reset
from $package.filter import $cls


def fitted(seed: int = 0) -> tuple[$cls, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    clean, far = torch.randn(4000, 3, generator=gen), torch.randn(400, 3, generator=gen) + 4.0
    defence = $cls(threshold=0.05, max_reference=2000)
    history = defence.fit(clean[:3000], far[:200], clean[3000:], far[200:], seed=seed)
    assert set(history) == {"val_clean_accepted", "val_adversarial_caught"}
    return defence, clean[3000:], far[200:]


def test_clean_pass_at_the_threshold_rate_and_far_inputs_are_caught() -> None:
    defence, clean, far = fitted()
    scores = defence.score(clean)
    assert scores.shape == (len(clean),) and float(scores.min()) >= 0 and float(scores.max()) <= 1
    assert abs(float(defence.accepts(clean).float().mean()) - 0.95) < 0.03
    assert float((~defence.accepts(far)).float().mean()) > 0.9


def test_seeded() -> None:
    assert torch.equal(fitted(3)[0].reference, fitted(3)[0].reference)
    assert not torch.equal(fitted(3)[0].reference, fitted(4)[0].reference)


def test_state_loads_with_weights_only() -> None:
    defence, clean, _ = fitted()
    buffer = io.BytesIO()
    torch.save(defence.state_dict(), buffer)
    buffer.seek(0)
    again = $cls(threshold=0.05, max_reference=2000)
    again.load_state_dict(torch.load(buffer, weights_only=True), n_features=3)
    assert torch.equal(again.score(clean), defence.score(clean))


def test_registered_through_the_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "$component")
    reset()
    try:
        assert hepadv.get_defence("$component") is $cls
    finally:
        reset()
'''

COMMAND = '''\
"""``hepadv $command``: the registered attacks, whether each needs labels, and which plugin brings it."""

from __future__ import annotations

import typer


def $component(
    label_free: bool = typer.Option(False, "--label-free", help="Only attacks that need no labels."),
) -> None:
    """List the registered attacks and whether each needs truth labels."""
    from hepadv.registry.manager import get_registry  # imported when the command runs, not at --help

    for entry in get_registry("attack").entries():
        needs = entry.component.needs_labels
        if label_free and needs:
            continue
        typer.echo(f"{entry.name}\\t{'needs labels' if needs else 'label-free'}\\t{entry.plugin}")
'''

COMMAND_TEST = '''\
"""``hepadv $command``: added to the CLI through the entry point, and lists the built-in attacks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hepadv.cli.main import build_app
from hepadv.registry import reset


def test_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "$component")
    reset()
    try:
        result = CliRunner().invoke(build_app(), ["$command", "--label-free"])
    finally:
        reset()
    assert result.exit_code == 0, result.output
    assert "gaussian_noise\\tlabel-free" in result.output and "fgsm" not in result.output
'''

DATASET_ATTACK = '''\
"""The ``$component`` dataset-level attack: signed-gradient steps whose mean over the whole set is removed."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field

from hepadv.attacks.base import AttackResult, DatasetAttack, DatasetAttackParams
from hepadv.data.masks import FeatureMasks
from hepadv.data.spec import FeatureSpec
from hepadv.progress import Progress
from hepadv.random import RandomStream


class $cls(DatasetAttack):
    """x + epsilon sign(grad_x J) on the movable features, minus that step's mean over the whole set.

    Every feature's mean over the set stays where it was (a check of the means sees nothing), while the
    jets still move against the tagger. Shapes: x (n, n_features) scaled float32, the whole set; y (n,).
    """

    name: ClassVar[str] = "$component"
    needs_labels: ClassVar[bool] = True

    class Params(DatasetAttackParams):
        epsilon: float = Field(0.1, ge=0, description="step, scaled units")
        batch_size: int = Field(65536, ge=1, description="events per gradient pass")

    def attack(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, spec: FeatureSpec,
               masks: FeatureMasks, rng: RandomStream | None, progress: Progress | None) -> AttackResult:
        from hepadv.attacks.fgsm import loss_gradient

        assert y is not None  # generate() refuses a labelled attack without labels before calling this
        bs = self.params.batch_size
        sign = torch.cat([loss_gradient(model, x[i : i + bs], y[i : i + bs]).sign() for i in range(0, len(x), bs)])
        movable = masks.movable(x)
        step = torch.where(movable, self.params.epsilon * sign, 0.0)
        mean_step = step.sum(dim=0) / movable.sum(dim=0).clamp_min(1)
        x_adv = (x + torch.where(movable, step - mean_step, 0.0)).detach()
        with torch.no_grad():
            fooled = model(x_adv).argmax(dim=1) != model(x).argmax(dim=1)
        return AttackResult(x_adv, fooled, info={"largest_mean_step": float(mean_step.abs().max())})
'''

DATASET_ATTACK_TEST = '''\
"""$cls: feature means kept, integers and defaults untouched, a fooled mask, pickles, registers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import hepadv
from hepadv.data.spec import FeatureSpec, MissingRules
from hepadv.errors import HepadvError
from hepadv.registry import reset
from $package.attack import $cls


def setup():  # type: ignore[no-untyped-def]
    spec = FeatureSpec(names=("sip3d", "mass_sv", "n_tracks"), integer=np.array([False, False, True]),
                       defaults=np.full(3, -10.0), mean=np.zeros(3), std=np.ones(3), classes=("light", "b"),
                       missing=MissingRules(placeholders=(), deepcsv=False))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(500, 3, generator=gen)
    x[:, 2] = torch.randint(0, 5, (500,), generator=gen).float()
    x[::10, 1] = -10.0  # defaulted
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    return model, x, torch.randint(0, 2, (500,), generator=gen), spec


def test_means_kept_and_frozen_features_untouched() -> None:
    model, x, y, spec = setup()
    result = $cls(epsilon=0.2, batch_size=64).generate(model, x, y, spec)
    shift = result.x_adv - x
    assert torch.equal(shift[:, 2], torch.zeros(500)) and torch.equal(shift[::10, 1], torch.zeros(50))
    assert float(shift.abs().max()) > 0.1
    assert torch.allclose(result.x_adv.mean(dim=0), x.mean(dim=0), atol=1e-5)
    assert result.fooled.dtype == torch.bool and result.fooled.shape == (500,)


def test_needs_labels() -> None:
    model, x, _, spec = setup()
    with pytest.raises(HepadvError, match="needs truth labels"):
        $cls().generate(model, x, None, spec)


def test_pickles_and_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    attack = $cls(epsilon=0.3)
    assert pickle.loads(pickle.dumps(attack)).params == attack.params
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "$component")
    reset()
    try:
        assert hepadv.get_attack("$component") is $cls
    finally:
        reset()
'''

SELECTION = '''\
"""The ``$component`` Data/MC selection: two isolated opposite-sign muons and a jet away from them."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from hepadv.datamc.selections import Selected, Selection, SelectionParams, clean


class $cls(Selection):
    """Events with exactly two isolated opposite-sign muons and at least one clean jet; the leading one is
    histogrammed. A pure function of one NanoEvents chunk (GeV, radians).
    """

    name: ClassVar[str] = "$component"
    uses_met: ClassVar[bool] = False
    controls: ClassVar[tuple[str, ...]] = ("n_jets", "jet_pt", "jet_eta")

    class Params(SelectionParams):
        muon_pt: float = Field(15.0, ge=0, description="GeV")
        jet_muon_dr: float = Field(0.4, ge=0)

    def _select(self, events: Any) -> Selected:
        import awkward as ak

        p = self.params
        muons = self.isolated_muons(events, p.muon_pt)
        pair = ak.pad_none(muons, 2)
        two = ak.fill_none((ak.num(muons) == 2) & (pair[:, 0].charge * pair[:, 1].charge < 0), False)
        jets = clean(self.good_jets(events), muons, p.jet_muon_dr)
        mask = ak.to_numpy(two & (ak.num(jets) >= 1))
        picked = jets[mask][:, :1]
        n = int(mask.sum())
        cutflow = {"all": len(events), "two opposite-sign muons": int(ak.sum(two)), ">= 1 clean jet": n}
        index = np.arange(n)
        controls = {"n_jets": (ak.to_numpy(ak.num(jets[mask])).astype(np.float64), index),
                    "jet_pt": (ak.to_numpy(ak.flatten(picked.pt)).astype(np.float64), index),
                    "jet_eta": (ak.to_numpy(ak.flatten(picked.eta)).astype(np.float64), index)}
        return Selected(mask, picked, np.ones(n), cutflow, controls)
'''

SELECTION_TEST = '''\
"""$cls on toy NanoAOD Drell-Yan events: cutflow, selected muons, jets and controls agree; registration."""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import pytest

import hepadv
from hepadv.datamc.toynano import ToyNanoParams, toynano_files
from hepadv.registry import reset
from $package.selection import $cls


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    files = toynano_files(ToyNanoParams(topology="dy", n_events_mc=400, n_events_data=1),
                          root=tmp_path_factory.mktemp("toynano"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NanoEventsFactory.from_root({str(files["mc"]): "Events"}, schemaclass=NanoAODSchema).events()


def test_selects_dimuon_events(events) -> None:  # type: ignore[no-untyped-def]
    sel = $cls().select(events)
    n = int(sel.mask.sum())
    assert sel.mask.shape == (len(events),) and 0 < n < len(events)
    assert list(sel.cutflow.values()) == sorted(sel.cutflow.values(), reverse=True)
    assert sel.cutflow[">= 1 clean jet"] == n
    assert ak.to_list(ak.num(sel.jets)) == [1] * n and len(sel.sign) == n
    muons = events.Muon[sel.mask]
    assert ak.all(ak.num(muons) >= 2)
    for name, (values, index) in sel.controls.items():
        assert name in $cls.controls and len(values) == len(index) and index.max() < n
        assert np.isfinite(values).all()


def test_registered_through_the_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "$component")
    reset()
    try:
        assert hepadv.get_selection("$component") is $cls
    finally:
        reset()
'''

EXECUTOR = '''\
"""The ``$component`` executor: Data/MC chunks processed by a pool of threads in this process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from hepadv.datamc.executors import Executor


class $cls(Executor):
    """coffea's FuturesExecutor on a ThreadPoolExecutor of ``workers`` threads: no pickling, shared memory."""

    name: ClassVar[str] = "$component"
    parallel: ClassVar[bool] = False  # one process: nothing is pickled

    @contextmanager
    def run(self, status: bool = True) -> Iterator[Any]:
        from concurrent.futures import ThreadPoolExecutor

        from coffea import processor

        with ThreadPoolExecutor(max_workers=self.params.workers) as pool:
            yield processor.FuturesExecutor(pool=pool, status=status, desc="chunks", unit="chunk")
'''

EXECUTOR_TEST = '''\
"""$cls: maps work over its pool and merges the results like any coffea executor; registration."""

from __future__ import annotations

import pytest

import hepadv
from hepadv.registry import reset
from $package.executor import $cls


def square(n: int) -> dict[str, int]:
    return {"sum": n * n}


def test_maps_and_merges() -> None:
    with $cls({"workers": 2}).run(status=False) as executor:
        merged, _ = executor(list(range(10)), square, {})
    assert merged == {"sum": sum(n * n for n in range(10))}


def test_registered_through_the_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "$component")
    reset()
    try:
        assert hepadv.get_executor("$component") is $cls
    finally:
        reset()
'''

KINDS: dict[str, Kind] = {
    "attack": Kind("attack", "register_attacks", "attack", "attack", "attack class",
                   "the $component attack (L2 fast gradient method)", ATTACK, ATTACK_TEST,
                   "Use it in a card:\n\n    evaluation:\n      attacks:\n        - name: $component\n"
                   "          params: {epsilon: 0.05}\n"),
    "dataset": Kind("dataset", "register_datasets", "dataset", "dataset", "dataset class",
                    "the $component dataset (two-class toy jets)", DATASET, DATASET_TEST,
                    "Use it in a card:\n\n    dataset: {name: $component, params: {n_jets: 20000}}\n"),
    "model": Kind("model", "register_models", "model", "model", "model class",
                  "the $component model (one-hidden-layer MLP)", MODEL, MODEL_TEST,
                  "Use it in a card:\n\n    model: {name: $component, params: {hidden: 64}}\n"),
    "dataset-attack": Kind("dataset-attack", "register_attacks", "attack", "attack", "dataset-level attack class",
                           "the $component dataset-level attack (mean-preserving gradient steps)", DATASET_ATTACK,
                           DATASET_ATTACK_TEST, "Run it on a trained run:\n\n"
                           "    hepadv attack RUN_DIR --plugin $component --set epsilon=0.1\n"),
    "defence": Kind("defence", "register_defences", "defence", "defence", "defence class",
                    "the $component training defence (noise augmentation)", DEFENCE, DEFENCE_TEST,
                    "Use it in a card:\n\n    variants:\n      - name: nominal\n      - name: $component\n"
                    "        defence: {name: $component, params: {sigma: 0.05}}\n"),
    "filter": Kind("filter", "register_defences", "filter", "defence", "filter class",
                   "the $component filter defence (distance to the clean mean)", FILTER, FILTER_TEST,
                   "Use it in a defence card (`hepadv defend CARD`):\n\n"
                   "    defence: {name: $component, params: {threshold: 0.05}}\n"),
    "selection": Kind("selection", "register_selections", "selection", "selection", "selection class",
                      "the $component Data/MC selection (opposite-sign dimuon + jet)", SELECTION, SELECTION_TEST,
                      "Use it in a Data/MC card:\n\n    selection: {name: $component}\n"
                      "    toynano: {topology: dy}      # or your data and mc files\n"),
    "executor": Kind("executor", "register_executors", "executor", "executor", "executor class",
                     "the $component executor (thread pool)", EXECUTOR, EXECUTOR_TEST,
                     "Use it for Data/MC runs:\n\n    hepadv datamc CARD --executor $component --workers 4\n"),
    "command": Kind("command", "register_commands", "command", None, "command",
                    "the `hepadv $command` command", COMMAND, COMMAND_TEST,
                    "Run it:\n\n    hepadv $command --label-free\n"),
}

_LABEL_FREE_SUMMARY = "the $component distortion (label-free uniform jitter)"


def render(kind: Kind, name: PluginName, requires: str, label_free: bool = False) -> dict[str, str]:
    """Relative path -> file text of the package for ``kind``."""
    component, test, summary = kind.component, kind.test, kind.summary
    if label_free:
        component, test, summary = LABEL_FREE_ATTACK, LABEL_FREE_TEST, _LABEL_FREE_SUMMARY
    fields = {"component": name.component, "distribution": name.distribution, "package": name.package,
              "cls": name.cls, "command": name.command, "requires": requires, "module": kind.module,
              "hook": kind.hook, "word": kind.word}
    fields["summary"] = Template(summary).substitute(fields)
    fields["usage"] = Template(kind.usage).substitute(fields)
    hook = COMMAND_HOOK if kind.key == "command" else HOOK
    return {
        "pyproject.toml": Template(PYPROJECT).substitute(fields),
        "README.md": Template(README).substitute(fields),
        f"{name.package}/__init__.py": Template(hook).substitute(fields),
        f"{name.package}/{kind.module}.py": Template(component).substitute(fields),
        f"tests/test_{name.component}.py": Template(test).substitute(fields),
    }
