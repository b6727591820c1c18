"""Defences against dataset-level attacks (seed 004 sec. 6-9): fooling ratios, grey-box runs, detector,
augmentation, iterative adversarial training, the donut, and the one-line errors of bad cards."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import yaml

from hepadv.attacks.base import AttackResult, DatasetAttack, DatasetAttackParams
from hepadv.cards import load
from hepadv.defences.base import FilterDefence
from hepadv.defences.detector import efficiency_curve, fooling_ratios
from hepadv.defences.ranges import draw_params, parse_range
from hepadv.errors import CardError, HepadvError
from hepadv.random import RandomStream

REPO = Path(__file__).resolve().parents[1]

DONUT_RUN = {
    "name": "donut-test", "seed": 2,
    "dataset": {"name": "donut", "params": {"n_events": 3000, "seed": 2}},
    "preprocess": {"reweight": "none"},
    "model": {"name": "deepcsv", "params": {"hidden": 16, "layers": 2, "dropout": 0.0}},
    "training": {"epochs": 4, "batch_size": 128, "lr": 1e-2, "gamma": 0, "patience": None},
}


def write_card(tmp_path: Path, **changes: Any) -> Path:
    card: dict[str, Any] = {
        "runs": 2, "attack_classes": ["background"], "max_events": 600,
        "run": {**DONUT_RUN, "output": str(tmp_path / "run")},
        "attack": {"name": "pgd", "params": {"epsilon": 0.3, "relative_cap": None, "steps": 5}},
        "defence": {"name": "detector", "params": {"hidden": [16], "epochs": 15, "batch_size": 128, "lr": 1e-2}},
        "plots": False,
    }
    card.update(changes)
    path = tmp_path / "defend.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


# --- fooling ratios and the detector's figures -------------------------------------------------------------

def test_corrected_fooling_ratio_hand_computation() -> None:
    fooled = np.array([1, 1, 1, 0, 1, 0, 0, 1], dtype=bool)
    caught = np.array([1, 0, 1, 1, 0, 0, 1, 1], dtype=bool)
    initial, corrected = fooling_ratios(fooled, caught)
    assert initial == 5 / 8
    assert corrected == 2 / 8  # fooled and not caught: rows 1 and 4
    assert corrected <= initial


class Linear2(torch.nn.Module):
    """Two classes from the sign of w . x: a model whose decisions can be worked out by hand."""

    def __init__(self, w: tuple[float, float]) -> None:
        super().__init__()
        self.w = torch.tensor(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x @ self.w
        return torch.stack([-s, s], dim=1)


class CutFilter(FilterDefence):
    """Rejects every input with x1 above ``cut`` (a detector whose catches are known by construction)."""

    name: ClassVar[str] = "cut_filter"

    def __init__(self, cut: float) -> None:
        super().__init__({})
        self.cut = cut

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, 1] <= self.cut).float()


def test_grey_box_matrices_on_a_constructed_case() -> None:
    from hepadv.defences.pipelines.detector import score_matrices

    x_clean = torch.tensor([[-1.0, 0.0], [-2.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])
    # run 0's adversaries: rows 0, 1 crossed x0 = 0 (row 1 with a large x1); run 1's: only row 2, x1 small.
    adv0 = torch.tensor([[0.5, 0.0], [0.5, 3.0], [-1.0, 0.0], [1.0, 0.0]])
    adv1 = torch.tensor([[-1.0, 0.0], [-2.0, 0.0], [0.2, 0.1], [1.0, 0.0]])
    models = [Linear2((1.0, 0.0)), Linear2((1.0, 0.0))]
    filters = [CutFilter(1.0), CutFilter(0.05)]
    initial, corrected = score_matrices(models, filters, x_clean, [adv0, adv1])
    assert initial.shape == corrected.shape == (2, 2)
    np.testing.assert_allclose(initial, [[2 / 4, 1 / 4], [2 / 4, 1 / 4]])
    # filter 0 catches row 1 of adv0 (x1 = 3); filter 1 catches row 1 of adv0 and row 2 of adv1 (x1 = 0.1).
    np.testing.assert_allclose(corrected, [[1 / 4, 1 / 4], [1 / 4, 0.0]])
    assert (corrected <= initial).all()


def test_efficiency_curve() -> None:
    s = np.array([0.1, 0.4, 0.6, 0.9])
    np.testing.assert_allclose(efficiency_curve(s, np.array([0.0, 0.5, 1.0]), clean=True), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(efficiency_curve(s, np.array([0.0, 0.5, 1.0]), clean=False), [0.0, 0.5, 1.0])


# --- ranges -----------------------------------------------------------------------------------------------

def test_ranges_parse_and_draw() -> None:
    r = parse_range("[0.001, 0.005] (uniform)", "x")
    assert r is not None and (r.low, r.high, r.distribution) == (0.001, 0.005, "uniform")
    assert parse_range(0.3, "x") is None
    drawn = [draw_params({"a": "[0.001, 0.005] (uniform)", "b": [1, 9], "c": 2}, np.random.default_rng(s), {"b"})
             for s in range(20)]
    assert all(0.001 <= d["a"] <= 0.005 and 1 <= d["b"] <= 9 and isinstance(d["b"], int) and d["c"] == 2
               for d in drawn)
    again = draw_params({"a": "[0.001, 0.005] (uniform)", "b": [1, 9], "c": 2}, np.random.default_rng(3), {"b"})
    assert again == drawn[3]


def test_range_min_above_max_is_one_line() -> None:
    with pytest.raises(CardError, match=r"^x: range minimum 0.005 is greater than its maximum 0.001"):
        parse_range("[0.005, 0.001] (uniform)", "x")


# --- bad cards --------------------------------------------------------------------------------------------

def test_fewer_than_two_runs_is_one_line(tmp_path: Path) -> None:
    path = write_card(tmp_path, runs=1)
    with pytest.raises(CardError) as exc:
        load(path, "defence")
    assert str(exc.value) == f"{path}: runs: grey-box runs need R >= 2 independently trained base models, got 1"


def test_min_above_max_in_card(tmp_path: Path) -> None:
    path = write_card(tmp_path, defence={"name": "iterative_adversarial_training", "params": {
        "iterations": 2, "train_attack": {"epsilon": "[0.5, 0.1] (uniform)"}}})
    with pytest.raises(CardError, match=r"train_attack\.epsilon: range minimum 0.5 is greater than its maximum 0.1"):
        load(path, "defence")


def test_range_end_outside_attack_params(tmp_path: Path) -> None:
    path = write_card(tmp_path, defence={"name": "iterative_adversarial_training", "params": {
        "train_attack": {"steps": "[0, 5] (uniform)"}}})
    with pytest.raises(CardError, match=r"train_attack\.steps: expected a value >= 1, got 0 \(at the low end"):
        load(path, "defence")


def test_labelled_attack_on_label_free_data(tmp_path: Path) -> None:
    path = write_card(tmp_path, data={"distortion": {"name": "fgsm"}})
    with pytest.raises(CardError, match=r"data\.distortion\.name: attack 'fgsm' needs truth labels, but the data "
                                        r"sample is label-free"):
        load(path, "defence")


def test_craft_refuses_labelled_attack_without_labels() -> None:
    from hepadv.attacks.fgsm import FGSM
    from hepadv.defences.crafting import craft

    with pytest.raises(HepadvError, match="attack 'fgsm' needs truth labels, but this sample has none"):
        craft(FGSM(), Linear2((1.0, 0.0)), torch.zeros(3, 2), None, None, seed=0)  # type: ignore[arg-type]


def test_training_strategy_is_not_a_defence_pipeline(tmp_path: Path) -> None:
    path = write_card(tmp_path, defence={"name": "adversarial_training"})
    with pytest.raises(CardError, match="is a training strategy, not a filter or retraining defence"):
        load(path, "defence")


def test_detector_without_fooling_adversaries(tmp_path: Path) -> None:
    from hepadv.defences.pipelines import defend

    path = write_card(tmp_path, attack={"name": "fgsm", "params": {"epsilon": 0.0}})
    with pytest.raises(HepadvError, match=r"^detector: no adversary fools the base model of run 0 on the train "
                                          r"split \(0 of \d+ attacked events by fgsm\)"):
        defend(load(path, "defence"), progress=False)


# --- donut ------------------------------------------------------------------------------------------------

def test_donut_geometry() -> None:
    from hepadv.data.donut import Donut

    jets = Donut(Donut.Params(n_events=40_000, sigma=0.5, ring_radius=3.0, seed=7)).load()
    assert jets.classes == ("background", "signal")
    sig, bkg = jets.features[jets.labels == 1], jets.features[jets.labels == 0]
    assert abs(len(sig) / len(jets) - 0.5) < 0.02
    np.testing.assert_allclose(sig.std(axis=0), 0.5, rtol=0.03)
    np.testing.assert_allclose(sig.mean(axis=0), 0.0, atol=0.02)
    radius = np.hypot(bkg[:, 0], bkg[:, 1])
    assert radius.mean() == pytest.approx(3.0, abs=0.02)
    assert radius.std() == pytest.approx(0.5, rel=0.03)
    assert abs(np.corrcoef(bkg.T)[0, 1]) < 0.02  # linearly uncorrelated (sec. 9)
    again = Donut(Donut.Params(n_events=40_000, sigma=0.5, ring_radius=3.0, seed=7)).load()
    np.testing.assert_array_equal(again.features, jets.features)


def test_donut_card_end_to_end_and_reuse(tmp_path: Path) -> None:
    """cards/donut.yaml (CONSERVAttack) through ``hepadv defend``, shrunk by --set: the detector lowers the FR."""
    import json

    from typer.testing import CliRunner

    from hepadv.cli.main import build_app

    small = ["runs=2", f"run.output={tmp_path / 'run'}", "run.dataset.params.n_events=6000",
             "run.training.epochs=6", "max_events=1000", "data.max_events=500",
             # 1000 attacked events instead of 4000: one move shifts a histogram bin by 1/1000, so the
             # per-change JSD bound of the card (set for 4000) is scaled up accordingly
             "attack.params.max_jsd_single_change=0.03", "attack.params.block_size=16"]
    args = ["defend", str(REPO / "cards" / "donut.yaml"), "--no-progress"]
    result = CliRunner().invoke(build_app(), [*args, *(x for s in small for x in ("--set", s))])
    assert result.exit_code == 0, result.output
    assert "white-box fooling ratio" in result.output
    (metrics_file,) = (tmp_path / "run" / "defences").glob("donut-*/metrics.json")
    m = json.loads(metrics_file.read_text())
    wb, gb = m["white_box"], m["grey_box"]
    assert np.array(gb["initial_matrix"]).shape == (2, 2)
    # The diagonal is the white-box run: adversaries of run i scored by model i.
    np.testing.assert_allclose(np.diag(gb["initial_matrix"]),
                               [r["white_box_fooling_ratio"]["test"] for r in m["per_run"]])
    assert wb["initial_mean"] > 0.05
    assert wb["corrected_mean"] < wb["initial_mean"]
    assert gb["corrected"]["mean"] < gb["initial"]["mean"]
    assert all(0.5 < a <= 1.0 for a in wb["detector_auc"])
    assert m["significance"]["runs"] == 2
    assert len(m["data"]["efficiency_at_threshold"]) == 2
    plots = {p.name for p in (metrics_file.parent / "plots").iterdir()}
    assert {"fig17_clean.png", "fig18_marginals.png", "fig19_adversarial.png", "fig20_fooling.png",
            "fig21_after_detector.png", "efficiency_vs_threshold.png", "greybox_fooling_ratio.png"} <= plots
    # Second call: models, adversaries and detectors are read back, not made again.
    made = {p: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.suffix in (".npz", ".pt")}
    again = CliRunner().invoke(build_app(), [*args, *(x for s in [*small, "plots=false"] for x in ("--set", s))])
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in made} == made
    assert json.loads(metrics_file.read_text())["grey_box"] == gb


def test_iterative_training_set_grows_cumulatively(tmp_path: Path) -> None:
    from hepadv.defences.pipelines import defend

    path = write_card(tmp_path, defence={"name": "iterative_adversarial_training", "params": {
        "iterations": 3, "train_attack": {"epsilon": "[0.1, 0.4] (uniform)"}}}, max_events=300)
    m = defend(load(path, "defence"), progress=False).metrics
    for share in m["per_run"]:
        added = np.array(share["added"])
        assert (added > 0).all()
        np.testing.assert_array_equal(share["train_sizes"], share["n_train"] + np.cumsum(added))
        eps = [it["params"]["epsilon"] for it in share["iterations"]]
        assert all(0.1 <= e <= 0.4 for e in eps) and len(set(eps)) == 3
        # each iteration adds exactly the adversaries of that iteration that fooled the initial model
        run_dir = Path(share["dir"])
        for it, n in zip(share["iterations"], added, strict=True):
            (npz,) = (run_dir / "adversaries").glob(f"{it['attack_id']}-train-*.npz")
            assert np.load(npz)["fooled"].sum() == n
    assert len(m["per_iteration"]["mean"]) == 3
    assert np.array(m["trained_fooling"]).shape == (2, 3, 2)


def test_augmentation_adds_fooling_training_adversaries(tmp_path: Path) -> None:
    from hepadv.defences.pipelines import defend

    path = write_card(tmp_path, defence={"name": "augmentation"}, max_events=None)
    m = defend(load(path, "defence"), progress=False).metrics
    assert len(m["auc_base"]) == len(m["auc_augmented"]) == 2
    assert all(0.5 < a <= 1.0 for a in m["auc_base"] + m["auc_augmented"])
    assert all(0 < s["n_added"] <= s["n_train"] for s in m["per_run"])


# --- any registered attack: a dataset-level one through the same pipelines ----------------------------------

class ShrinkAll(DatasetAttack):
    """A minimal dataset-level attack: pulls the whole set toward its mean."""

    name: ClassVar[str] = "shrink_all"

    class Params(DatasetAttackParams):
        factor: float = 0.5

    def id(self) -> str:
        return f"shrink_all-{self.params.factor:g}"

    def attack(self, model: Any, x: torch.Tensor, y: Any, spec: Any, masks: Any, rng: Any, progress: Any) -> Any:
        assert y is not None and len(y) == len(x) and isinstance(rng, RandomStream)
        return AttackResult(x.mean(0) + self.params.factor * (x - x.mean(0)))


class _ShrinkPlugin:
    @staticmethod
    def register_attacks(register: Any) -> None:
        register(ShrinkAll)


def test_dataset_level_attack_goes_through_run(tmp_path: Path) -> None:
    from hepadv.data.spec import FeatureSpec
    from hepadv.defences.crafting import craft
    from hepadv.defences.pipelines import defend
    from hepadv.registry.hookspecs import hookimpl
    from hepadv.registry.manager import register_plugin

    attack = ShrinkAll({"factor": 0.25})
    assert attack.kind == "dataset"
    x = torch.tensor([[0.0, 2.0], [4.0, 6.0]])
    spec = FeatureSpec(("a", "b"), np.zeros(2, bool), np.full(2, -10.0), np.zeros(2), np.ones(2), ("c0", "c1"))
    np.testing.assert_allclose(craft(attack, Linear2((1.0, 0.0)), x, torch.zeros(2, dtype=torch.long), spec, 0),
                               [[1.5, 3.5], [2.5, 4.5]])

    class Plugin:
        register_attacks = staticmethod(hookimpl(_ShrinkPlugin.register_attacks))

    register_plugin(Plugin(), "shrink-plugin")
    # The donut's ring pulled toward the centre fools the classifier: a dataset-level attack, end to end.
    path = write_card(tmp_path, attack={"name": "shrink_all", "params": {"factor": 0.3}})
    m = defend(load(path, "defence"), progress=False).metrics
    assert m["attack"]["name"] == "shrink_all" and m["attack"]["id"] == "shrink_all-0.3"
    assert m["white_box"]["initial_mean"] > 0.3
    assert m["white_box"]["corrected_mean"] <= m["white_box"]["initial_mean"]
