"""CONSERVAttack's control region holds after the attack: on data with a planted cut no event crosses it,
and the control-region figures ``hepadv attack`` reports are those of the cut re-applied to the attacked set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepadv.attacks.conservattack.attack import ConservAttack
from hepadv.attacks.runner import attack_model
from hepadv.data.spec import FeatureSpec
from hepadv.evaluation.fooling import FooledCriterion
from hepadv.evaluation.visibility import distribution_figures, figures_of_merit
from hepadv.random import RandomStream
from hepadv.runs import TrainedModel

NAMES = ("cut_var", "b", "c", "e")
PARAMS = {"min_change": 0.3, "step": 0.3, "n_steps": 4, "n_iterations": 4, "num_bins": 20, "alpha": 4.0,
          "beta": 1.0, "max_jsd_single_change": 0.05, "max_frob_single_change": 0.01, "block_size": 16,
          "control_region": True}


def planted() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, FeatureSpec]:
    """Background has cut_var in [-2, 0.5], signal in [1.5, 4]: the best single cut is cut_var > 1.0 with
    accuracy 1 (the midpoint of the gap; every other feature separates the classes only weakly). The model
    leans on cut_var, so its gradient pushes signal events down towards the cut and background events up."""
    g = np.random.default_rng(7)
    n = 600
    y = np.arange(n) % 2
    x = g.normal(size=(n, 4))
    x[:, 1] += 0.5 * y
    x[:, 0] = np.where(y == 1, g.uniform(1.5, 4.0, n), g.uniform(-2.0, 0.5, n))
    x[0, 0], x[1, 0] = 0.5, 1.5  # the edges of the gap, exactly representable: the cut lies at 1.0
    model = torch.nn.Linear(4, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 0.0], [4.0, 0.8, 0.4, 0.0]]))
        model.bias.copy_(torch.tensor([0.0, -4.0]))
    spec = FeatureSpec(names=NAMES, integer=np.zeros(4, bool), defaults=np.full(4, -100.0), mean=np.zeros(4),
                       std=np.ones(4), classes=("bkg", "sig"))
    return model.eval(), torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y), spec


def reapply(cut: dict, x: np.ndarray) -> np.ndarray:
    """The validator's control region: the recorded cut applied, in numpy, to whatever sample it is given."""
    above = x[:, NAMES.index(cut["feature"])].astype(np.float64) > cut["threshold_scaled"]
    return ~above if cut["signal_side"] == ">" else above


@pytest.mark.parametrize("selection", ["global", "per_feature"])
def test_planted_cut_holds_and_reported_figures_are_the_reapplied_ones(selection: str) -> None:
    model, x, y, spec = planted()
    attack = ConservAttack({**PARAMS, "selection": selection})
    outcome = attack_model(attack, TrainedModel(model, spec, "nominal", 0), x, y, PARAMS["num_bins"],  # type: ignore[arg-type]
                           RandomStream(0))
    m = outcome.metrics
    cut = m["info"]["control_region"]
    assert (cut["feature"], cut["threshold_scaled"], cut["signal_side"], cut["accuracy"]) == ("cut_var", 1.0, ">", 1.0)

    clean, adv = x.numpy(), outcome.x_adv
    control, control_adv = reapply(cut, clean), reapply(cut, adv)
    assert 0 < control.sum() < len(x)
    np.testing.assert_array_equal(control_adv, control)  # no event crossed the cut, in either direction
    assert m["regions"]["n_crossed"] == 0
    # the prohibition was binding: signal events were pushed against the cut and stopped there
    assert sum(h["n_crossings_blocked"] for h in m["history"]) > 0
    moved_to_edge = (~control) & (adv[:, 0] < clean[:, 0]) & (adv[:, 0] < 1.5)
    assert moved_to_edge.any() and (adv[moved_to_edge, 0] > 1.0).all()
    assert (adv != clean).any(axis=1)[control].sum() > 20  # the control region was attacked as well

    # what a validator computes after re-applying the cut == what was reported, exactly
    validator = distribution_figures(clean[control], adv[control_adv], NAMES, PARAMS["num_bins"])
    assert m["mean_jsd"] == validator["mean_jsd"] and m["dfn"] == validator["dfn"]
    assert m["jsd_per_feature"] == validator["jsd_per_feature"]
    assert (m["regions"]["control"]["mean_jsd"], m["regions"]["control"]["dfn"]) == (validator["mean_jsd"],
                                                                                     validator["dfn"])
    assert m["regions"]["control"]["n_events"] == m["regions"]["control"]["n_events_attacked"] == control.sum()
    # and the statistics the attack kept while running are the control region's, to rounding
    assert m["history"][-1]["mean_jsd"] == pytest.approx(validator["mean_jsd"], abs=1e-10)
    assert m["history"][-1]["dfn"] == pytest.approx(validator["dfn"], abs=1e-10)
    assert validator["mean_jsd"] > 0 and validator["dfn"] > 0


def test_crossing_events_are_reported_in_the_region_they_land_in() -> None:
    """figures_of_merit with the cut re-applied: an event pushed across shows up in n_crossed, and the
    attacked control region is selected by the attacked values (never by the clean membership)."""
    model, x, y, spec = planted()
    clean = x.numpy()
    adv = clean.copy()
    cut = {"feature": "cut_var", "threshold_scaled": 1.0, "signal_side": ">"}
    sig = np.flatnonzero(clean[:, 0] > 1.0)[:30]
    adv[sig, 0] = 0.0  # thirty signal events pushed into the control region
    with torch.no_grad():
        p0, p1 = (torch.softmax(model(torch.as_tensor(v)), 1).double().numpy() for v in (clean, adv))
    control, control_adv = reapply(cut, clean), reapply(cut, adv)
    figs = figures_of_merit(clean, adv, y.numpy(), p0, p1, NAMES, spec.classes, dict(spec.discriminators),
                            FooledCriterion(), 20, control, None, control_adv)
    assert figs["regions"]["n_crossed"] == 30
    assert figs["regions"]["control"]["n_events_attacked"] == control.sum() + 30
    validator = distribution_figures(clean[control], adv[control_adv], NAMES, 20)
    assert (figs["mean_jsd"], figs["dfn"]) == (validator["mean_jsd"], validator["dfn"])
    fixed = distribution_figures(clean[control], adv[control], NAMES, 20)  # the old, fixed-membership view
    assert fixed["mean_jsd"] == 0 and validator["mean_jsd"] > 0.02
