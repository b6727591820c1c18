"""CONSERVAttack's card is tuned off the split it reports on: the sweep refuses the test split, the card records
a validation sweep, and the sweep's shortcut (iteration k of a long run is the k-iteration attack) holds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hepadv.attacks.conservattack.attack import ConservAttack
from hepadv.cards import load
from hepadv.cards.load import validate
from hepadv.errors import CardError

REPO = Path(__file__).resolve().parents[1]


def _load(name: str, path: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sweep = _load("conservattack_sweep", "scripts/conservattack_sweep.py")


def test_sweep_refuses_the_test_split(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        sweep.parse(["--split", "test"])
    assert exc.value.code == 2
    assert "the test split is where the figures are reported" in capsys.readouterr().err
    assert sweep.parse([]).split == "val"
    assert sweep.parse(["--split", "train"]).split == "train"


def test_card_is_tuned_on_val_and_reports_on_test() -> None:
    card = load(REPO / "cards" / "conservattack.yaml", "attack")
    assert card.tuned_on is not None
    assert card.tuned_on.split == "val" and card.split == "test" and card.tuned_on.split != card.split
    assert card.tuned_on.script == "scripts/conservattack_sweep.py"
    assert card.tuned_on.target is not None and card.tuned_on.target.model_dump() == sweep.TARGET
    rf = _load("readme_figures_for_sweep", "scripts/readme_figures.py")
    assert rf.TARGET == sweep.TARGET  # the README judges by the target the card was tuned to
    paper = load(REPO / "cards" / "conservattack_paper.yaml", "attack")
    assert paper.tuned_on is None and paper.attack.validated_params.min_change == 0.0005  # the paper's, untuned


@pytest.mark.parametrize("split", ["test", "val"])
def test_card_tuned_on_its_reported_split_is_refused(split: str) -> None:
    data = {"kind": "attack", "attack": {"name": "conservattack", "params": {}}, "split": split,
            "tuned_on": {"script": "scripts/conservattack_sweep.py", "split": split}}
    message = "tuned_on.split" if split == "test" else "tuned on the val split cannot be reported on it"
    with pytest.raises(CardError, match=message):
        validate(data, "attack", "card.yaml")


def test_choose_takes_fewest_iterations_then_lowest_dfn() -> None:
    def rec(selection: str, mc: float, hist: list[tuple[float, float, float]]) -> dict:
        return {"selection": selection, "min_change": mc, "step": 0.2,
                "history": [{"iteration": i + 1, "fooling_ratio": fr, "mean_jsd": j, "dfn": f}
                            for i, (fr, j, f) in enumerate(hist)]}

    records = [rec("global", 0.2, [(0.3, 0.01, 0.05), (0.61, 0.01, 0.15), (0.7, 0.01, 0.19)]),
               rec("global", 0.4, [(0.5, 0.01, 0.05), (0.65, 0.02, 0.12)]),  # same iterations, lower dFN
               rec("global", 0.8, [(0.9, 0.06, 0.1)]),  # first iteration, but JSD above the target
               rec("per_feature", 0.1, [(0.9, 0.1, 0.3)])]
    chosen = sweep.choose(records)
    assert chosen["global"] == {"min_change": 0.4, "step": 0.2, "n_iterations": 2, "fooling_ratio": 0.65,
                                "mean_jsd": 0.02, "dfn": 0.12}
    assert chosen["per_feature"] is None


@pytest.mark.parametrize("selection", ["global", "per_feature"])
def test_iteration_k_of_a_long_run_is_the_k_iteration_attack(small_tagger, selection: str) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    x, y = x[:300], y[:300]
    params = {"min_change": 0.05, "step": 0.1, "n_steps": 4, "num_bins": 8, "block_size": 16, "selection": selection}
    long = ConservAttack({**params, "n_iterations": 3}).generate(model, x, y, data.spec).history
    short = ConservAttack({**params, "n_iterations": 2}).generate(model, x, y, data.spec).history
    keys = ("fooling_ratio", "mean_jsd", "dfn", "n_active", "n_changed")
    assert [[h[k] for k in keys] for h in long[:2]] == [[h[k] for k in keys] for h in short]
    assert long[2]["n_changed"] > 0
