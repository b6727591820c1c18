"""The plugin API is versioned: an API-1 attack keeps working with a deprecation note; one hepadv cannot run is
refused when the plugin loads, in one line, and never fails mid-run."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from typer.testing import CliRunner

import hepadv
from hepadv.attacks.base import Attack, AttackParams
from hepadv.cli.main import build_app
from hepadv.registry.hookspecs import hookimpl
from hepadv.registry.manager import get_registry, plugin_infos, register_plugin


class OldFlip(Attack):
    """Written against plugin API 1: perturb(model, x, y, masks), no rng."""

    name: ClassVar[str] = "old_flip"

    class Params(AttackParams):
        epsilon: float = 0.1

    def perturb(self, model, x, y, masks):  # type: ignore[no-untyped-def,override]
        return x - masks.bounded_step(x, torch.ones_like(x), self.params.epsilon, None)


class NotAnAttack:
    """Duck-typed, as API 1 allowed for dataset-level attacks: API 2 needs the base class."""

    name: ClassVar[str] = "duck"
    kind: ClassVar[str] = "dataset"


def _plugin(cls: type) -> Any:
    class Plugin:
        @hookimpl
        def register_attacks(self, register):  # type: ignore[no-untyped-def]
            register(cls)

    return Plugin()


def test_plugin_api_is_a_version_number() -> None:
    major, minor = (int(p) for p in hepadv.PLUGIN_API.split("."))
    assert (major, minor) >= (2, 0)


def test_api1_perturb_still_runs_with_a_deprecation_note(small_tagger: Any) -> None:
    register_plugin(_plugin(OldFlip), "old-plugin")
    cls = hepadv.get_attack("old_flip")
    info = next(i for i in plugin_infos() if i.name == "old-plugin")
    assert info.error is None and len(info.notes) == 1
    assert "perturb(model, x, y, masks) is plugin API 1" in info.notes[0]
    data, model, x, y = small_tagger
    result = cls(epsilon=0.1).generate(model, x[:50], y[:50], data.spec)
    movable = torch.as_tensor(data.spec.integer) == 0
    assert not torch.equal(result.x_adv[:, movable], x[:50, movable])
    out = CliRunner().invoke(build_app(), ["plugins"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    assert "deprecated: attack 'old_flip'" in " ".join(out.output.replace("│", " ").split())  # wrapped cells


def test_incompatible_component_is_refused_at_load_in_one_line() -> None:
    register_plugin(_plugin(NotAnAttack), "duck-plugin")
    assert "duck" not in get_registry("attack")
    info = next(i for i in plugin_infos() if i.name == "duck-plugin")
    assert info.error == ("plugin 'duck-plugin' refused (plugin API 2.0): attack 'duck' does not subclass "
                          "hepadv.attacks.base.Attack")
    out = CliRunner().invoke(build_app(), ["plugins"], env={"COLUMNS": "300"})
    flat = " ".join(out.output.replace("│", " ").split())
    assert out.exit_code == 0 and "duck-plugin" in flat and "refused (plugin" in flat
    # a card naming it says why, in one line, before anything runs
    out = CliRunner().invoke(build_app(), ["attack", "--plugin", "duck"])
    assert out.exit_code == 1
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown attack 'duck'" in lines[0] and "refused" in lines[0]
