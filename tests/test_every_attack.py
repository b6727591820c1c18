"""Every registered attack works in every place that takes one (issue 19): run-card evaluation, ``hepadv attack``,
Data/MC distortions and ``hepadv defend``. The registry is read at test time, so a new built-in attack or the
example plugin's (``plugins/hepadv-smearing``, loaded through its entry point) is covered without editing this
file; a dataset-level plugin defined here checks that ``defend`` hands it a ``RandomStream``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import yaml

from hepadv.attacks.base import AttackResult, DatasetAttack, DatasetAttackParams
from hepadv.random import RandomStream
from hepadv.registry.manager import get_registry, register_plugin

#: Small, fast params per attack (anything not named here runs with its defaults).
FAST: dict[str, dict[str, Any]] = {
    "conservattack": {"n_iterations": 2, "num_bins": 20, "min_change": 0.1, "step": 0.1, "block_size": 64},
    "pgd": {"steps": 2},
    "seen_rng": {"shift": 0.2},
}


class SeenRng(DatasetAttack):
    """A dataset-level test attack that insists on the caller's ``RandomStream`` (the guide's promise)."""

    name: ClassVar[str] = "seen_rng"

    class Params(DatasetAttackParams):
        shift: float = 0.2

    def attack(self, model: Any, x: torch.Tensor, y: Any, spec: Any, masks: Any, rng: Any, progress: Any) -> Any:
        assert isinstance(rng, RandomStream), f"expected a RandomStream, got {type(rng).__name__}"
        noise = rng.uniform(tuple(x.shape), device=x.device, dtype=x.dtype)
        return AttackResult(x + self.params.shift * (2 * noise - 1))


class _Plugin:
    @staticmethod
    def register_attacks(register: Any) -> None:
        register(SeenRng)


@pytest.fixture
def every_attack(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The example plugin (entry point) and the dataset-level test plugin loaded; every attack name."""
    from hepadv.registry.hookspecs import hookimpl

    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "smearing")

    class Plugin:
        register_attacks = staticmethod(hookimpl(_Plugin.register_attacks))

    register_plugin(Plugin(), "seen-rng-plugin")
    names = get_registry("attack").names()
    # smear: plugins/hepadv-smearing, which the test command (make test) pip-installs
    assert {"fgsm", "pgd", "gaussian_noise", "systematic_shift", "conservattack", "seen_rng", "smear"} <= set(names)
    return names


def spec(name: str) -> dict[str, Any]:
    return {"name": name, "params": FAST.get(name, {})}


def test_run_card_evaluation(every_attack: list[str], tiny_run: Path) -> None:
    from hepadv.cards import validate_card
    from hepadv.evaluation.runner import evaluate_run
    from tests.test_datamc import TINY

    card = validate_card({**TINY, "output": str(tiny_run),
                          "evaluation": {**TINY["evaluation"], "max_jets": 300, "transfer": True,
                                         "attacks": [spec(n) for n in every_attack]}})
    out = evaluate_run(card, run_dir=tiny_run)
    ids = [a["id"] for a in out["attacks"]]
    assert [a["name"] for a in out["attacks"]] == every_attack
    for variant in out["variants"].values():
        assert set(ids) <= set(variant["metrics"])
    labelled = [a["id"] for a in out["attacks"] if a["needs_labels"]]
    assert set(out["transfer"]) == set(labelled)  # dataset-level ones transfer too


def test_hepadv_attack(every_attack: list[str], tiny_run: Path, tmp_path: Path) -> None:
    from hepadv.attacks.runner import run_attack
    from hepadv.cards import validate_card
    from hepadv.registry.manager import build
    from tests.test_datamc import TINY

    card = validate_card({**TINY, "output": str(tiny_run)})
    for name in every_attack:
        attack = build("attack", name, FAST.get(name, {}))
        out, summary = run_attack(card, attack, run_dir=tiny_run, variant="nominal", max_events=200,
                                  output=tmp_path / name)
        assert (out / "nominal" / "metrics.json").is_file() and summary["attack"]["name"] == name
        assert 0 <= summary["variants"]["nominal"]["fooling_ratio"] <= 1


def test_datamc_distortions(every_attack: list[str], tiny_run: Path, tmp_path: Path) -> None:
    from hepadv.cards import load
    from hepadv.datamc.run import run_datamc

    data = {"kind": "datamc", "selection": {"name": "dy"}, "toynano": {"n_events_mc": 1500, "n_events_data": 1000},
            "taggers": [{"run": str(tiny_run), "variants": ["nominal"]}], "chunksize": 1000, "plots": False,
            "root": False, "output": str(tmp_path / "out"), "distortions": [spec(n) for n in every_attack]}
    path = tmp_path / "datamc.yaml"
    path.write_text(yaml.safe_dump(data))
    results = run_datamc(load(path, "datamc"))
    assert results["variations"] == ["raw", *every_attack]
    kl = results["divergences"]["nominal@best"]["BvsL"]
    assert all(kl[v]["kl"] is not None and np.isfinite(kl[v]["kl"]) for v in every_attack)


#: Params strong enough to fool some donut events, so the detector has adversaries to learn from.
STRONG: dict[str, dict[str, Any]] = {
    "fgsm": {"epsilon": 0.3, "relative_cap": None},
    "pgd": {"epsilon": 0.3, "relative_cap": None, "steps": 2},
    "gaussian_noise": {"sigma": 1.0, "relative_cap": None},
    "systematic_shift": {"magnitude": 0.5, "direction": "down"},
    "smear": {"sigma": 1.0},
    "seen_rng": {"shift": 1.0},
    "conservattack": {**FAST["conservattack"], "min_change": 0.3, "step": 0.3, "max_jsd_single_change": 0.5,
                      "max_frob_single_change": 0.5},
}


def test_hepadv_defend(every_attack: list[str], tmp_path: Path) -> None:
    from hepadv.cards import load
    from hepadv.defences.pipelines import defend
    from tests.test_defences import write_card

    for name in every_attack:
        (tmp_path / name).mkdir()
        path = write_card(tmp_path / name, attack={"name": name, "params": STRONG.get(name, {})}, runs=2,
                          max_events=300)
        metrics = defend(load(path, "defence")).metrics
        assert metrics["attack"]["name"] == name
        assert 0 < metrics["white_box"]["initial_mean"] <= 1
