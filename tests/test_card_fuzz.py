"""Card fuzzing: whatever YAML a user writes, the outcome is a valid card or one ``HepadvError`` line.

Structures are built from the schema's own key names (so they reach deep validation, component params
included) mixed with random keys, values of every YAML type, random ``--set`` overrides and raw text.
Derandomized: the same examples every run, so a failure here is a bug to fix, not noise.
"""

from __future__ import annotations

import datetime
import math
import random
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typer.testing import CliRunner

from hepadv.cards import load_card
from hepadv.cards.schema import RunCard
from hepadv.cli.main import build_app
from hepadv.errors import HepadvError

FUZZ = settings(max_examples=2000, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


def _schema_keys(model: type[BaseModel], seen: set[str]) -> None:
    for name, info in model.model_fields.items():
        seen.add(name)
        for arg in [info.annotation, *typing.get_args(info.annotation)]:
            for sub in [arg, *typing.get_args(arg)]:
                if isinstance(sub, type) and issubclass(sub, BaseModel) and sub is not model:
                    _schema_keys(sub, seen)


def _component_keys() -> set[str]:
    from hepadv.registry.manager import get_registry

    keys: set[str] = set()
    for kind in ("dataset", "model", "attack", "defence"):
        for entry in get_registry(kind).entries():
            _schema_keys(entry.component.Params, keys)
    return keys


def _known_keys() -> list[str]:
    keys: set[str] = set()
    _schema_keys(RunCard, keys)
    return sorted(keys | {"params", "name", "defence", "training"})


NAMES = ["toyjets", "pfnano", "arrays", "deepcsv", "fgsm", "pgd", "gaussian_noise", "systematic_shift",
         "adversarial_training", "nominal", "adv", "up", "down", "average", "flat", "auto", "cpu", "BvsL"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70), st.integers(min_value=-3, max_value=100),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=0, max_value=1),
    st.text(max_size=12), st.sampled_from(NAMES),
)


def cards(keys: list[str]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(keys), st.text(max_size=8), st.integers(-2, 5))
    values = st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=4)), max_leaves=10)
    section = st.dictionaries(key, values, max_size=4)
    top = st.dictionaries(st.sampled_from(keys), st.one_of(section, values), max_size=5)
    return st.one_of(top, values)


overrides = st.lists(st.tuples(
    st.lists(st.one_of(st.sampled_from(["training", "epochs", "variants", "0", "1", "params", "dataset", "model",
                                        "evaluation", "attacks", "name", "lr", "seed"]), st.text(max_size=5)),
             min_size=1, max_size=4).map(".".join),
    st.sampled_from(["=", "", "=="]),
    st.one_of(st.text(max_size=10), scalars.map(lambda v: yaml.safe_dump(v).strip())),
).map("".join), max_size=3)

raw_text = st.text(alphabet=st.sampled_from(list("abcdefgilmnoprstuvwxyz_.019 -:[]{},&*!#|>'\"\n\t?%@`~=\\")),
                   max_size=80)


def _check_outcome(path: Path, sets: list[str]) -> None:
    try:
        card = load_card(path, sets)
    except HepadvError as exc:
        text = str(exc)
        assert text and "\n" not in text, repr(text)
        return
    assert isinstance(card, RunCard)
    card.output_dir()
    for variant in card.variants:  # every variant's training validates (load_card checked it)
        card.variant_training(variant)
    for _kind, _where, spec in card.component_specs():
        assert spec.validated_params is not None


@pytest.fixture(scope="module")
def keys() -> list[str]:
    return sorted(set(_known_keys()) | _component_keys())


@pytest.fixture(scope="module")
def all_kinds_keys(keys: list[str]) -> list[str]:
    """Run-card keys plus those of the other cards ``cards validate`` accepts (attack, Data/MC, defence)."""
    from hepadv.cards.attack import AttackCard
    from hepadv.cards.datamc import DataMCCard

    found: set[str] = {"attack", "defence", "selection", "taggers"}
    for model in (AttackCard, DataMCCard):
        _schema_keys(model, found)
    return sorted(found | set(keys))


class RandomCard:
    """Random card structures and ``--set`` overrides from one seed: cheap enough for thousands of examples.

    Hypothesis drives the seeds (derandomized, so the same 2000 every run; a failure names its seed);
    building the structure in plain Python keeps an example well under a millisecond.
    """

    def __init__(self, seed: int, keys: list[str]) -> None:
        self.rng = random.Random(seed)
        self.keys = keys

    def scalar(self) -> Any:
        r = self.rng
        return r.choice([
            None, True, False, r.randint(-3, 100), r.randint(-(2**70), 2**70), r.random(), r.uniform(-1e9, 1e9),
            math.nan, math.inf, -math.inf, r.choice(NAMES), "", "".join(r.choices(ODD, k=r.randint(1, 8))),
            r.choice(self.keys), datetime.date(2026, 1, 1),
        ])

    def key(self) -> Any:
        r = self.rng.random()
        if r < 0.8:
            return self.rng.choice(self.keys)
        return self.rng.choice(["", " ", "a b", "0", "x\ny", "é", 0, 1, -1, 2.5, True, None])

    def value(self, depth: int = 0) -> Any:
        kind = self.rng.random()
        if depth >= 4 or kind < 0.5:
            return self.scalar()
        n = self.rng.randint(0, 4)
        if kind < 0.7:
            return [self.value(depth + 1) for _ in range(n)]
        return {self.key(): self.value(depth + 1) for _ in range(n)}

    def card(self) -> Any:
        if self.rng.random() < 0.1:
            return self.value()
        return {self.rng.choice(self.keys): self.value(1) for _ in range(self.rng.randint(0, 6))}

    def overrides(self) -> list[str]:
        out = []
        for _ in range(self.rng.choice([0, 0, 1, 2])):
            parts = [self.rng.choice([*SET_PARTS, str(self.key())]) for _ in range(self.rng.randint(1, 4))]
            sep = self.rng.choice(["=", "=", "", "=="])
            value = yaml.dump(self.value(2), Dumper=DUMPER, default_flow_style=True).strip()
            out.append(".".join(parts) + sep + value)
        return out

    def text(self) -> str:
        """Either the structure as YAML, or YAML-like noise (syntax errors, tags, anchors)."""
        if self.rng.random() < 0.85:
            return yaml.dump(self.card(), Dumper=DUMPER, allow_unicode=True, default_flow_style=self.rng.random() < 0.3)
        return "".join(self.rng.choices(YAML_NOISE, k=self.rng.randint(0, 60)))


DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the C emitter: writing the examples costs ~nothing
ODD = list("ab -:#[]{}'\"\n\t\\é²&*!|>%@`")
SET_PARTS = ["training", "epochs", "variants", "0", "1", "5", "params", "dataset", "model", "evaluation",
             "attacks", "name", "lr", "seed", "²", ""]
YAML_NOISE = list("abcdefgilmnoprstuvwxyz_.019 -:[]{},&*!#|>'\"\n\t?%@`~=\\")


def test_load_card_fuzz(tmp_path: Path, keys: list[str]) -> None:
    path = tmp_path / "card.yaml"

    @FUZZ
    @given(seed=st.integers(0, 2**32 - 1))
    def run(seed: int) -> None:
        gen = RandomCard(seed, keys)
        path.write_text(gen.text())
        _check_outcome(path, gen.overrides())

    run()


def test_every_card_kind(tmp_path: Path, all_kinds_keys: list[str]) -> None:
    """``cards validate`` also takes attack and Data/MC cards: the same promise for their loaders."""
    from hepadv.cards import load

    path = tmp_path / "card.yaml"

    @settings(FUZZ, max_examples=500)
    @given(seed=st.integers(0, 2**32 - 1))
    def run(seed: int) -> None:
        gen = RandomCard(seed, all_kinds_keys)
        path.write_text(gen.text())
        try:
            assert load(path, None, gen.overrides()).summary()
        except HepadvError as exc:
            assert str(exc) and "\n" not in str(exc), repr(str(exc))

    run()


def test_cards_validate_cli(tmp_path: Path, all_kinds_keys: list[str]) -> None:
    keys = all_kinds_keys
    app = build_app()
    runner = CliRunner()
    path = tmp_path / "card.yaml"

    @settings(FUZZ, max_examples=100)
    @given(text=st.one_of(cards(keys).map(lambda d: yaml.safe_dump(d, allow_unicode=True)), raw_text),
           sets=overrides)
    def run(text: str, sets: list[str]) -> None:
        path.write_text(text)
        args = ["cards", "validate", str(path), *(a for s in sets for a in ("--set", s))]
        result = runner.invoke(app, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        lines = [line for line in result.output.splitlines() if line.strip()]
        if result.exit_code == 0:
            assert lines[0].startswith("ok "), result.output
        else:
            assert result.exit_code in (1, 2), result.output  # 2: a usage error (an option-like --set value)
            assert result.exit_code == 2 or (len(lines) == 1 and lines[0].startswith("error: ")), result.output

    run()
