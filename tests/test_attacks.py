"""FGSM and adversarial training: the loss rises, integers and defaults stay, the cap holds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepadv import get_attack
from hepadv.attacks.base import FeatureMasks
from hepadv.attacks.fgsm import FGSM
from tests.synthetic import mean_ce


def test_fgsm_raises_the_loss(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    x_adv = FGSM(epsilon=0.1, relative_cap=None)(model, x, y, data.spec)
    assert mean_ce(model, x_adv, y) > mean_ce(model, x, y) + 0.01
    bigger = FGSM(epsilon=0.3, relative_cap=None)(model, x, y, data.spec)
    assert mean_ce(model, bigger, y) > mean_ce(model, x_adv, y)


def test_fgsm_leaves_integers_and_defaults(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    x_adv = FGSM(epsilon=0.1, relative_cap=None)(model, x, y, data.spec)
    moved = (x_adv != x).numpy()
    assert not moved[:, data.spec.integer].any()
    at_default = np.isclose(x.numpy(), data.spec.scaled_defaults, atol=1e-5)
    assert at_default.any()
    assert not moved[at_default].any()
    free = ~at_default & ~data.spec.integer
    np.testing.assert_allclose(np.abs((x_adv - x).numpy()[free]), 0.1, rtol=1e-5)


def test_fgsm_relative_cap_in_original_units(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    spec = data.spec
    x_adv = FGSM(epsilon=5.0, relative_cap=0.25)(model, x, y, spec)
    orig, orig_adv = spec.unscale(x.numpy()), spec.unscale(x_adv.numpy())
    shift = np.abs(orig_adv - orig)
    limit = np.minimum(5.0 * spec.std, 0.25 * np.abs(orig))
    assert (shift <= limit * (1 + 1e-4) + 1e-4).all()
    assert (shift[:, ~spec.integer] > 0).any()


def test_attack_restores_training_mode(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    model.zero_grad(set_to_none=True)
    model.train()
    FGSM()(model, x[:10], y[:10], data.spec)
    assert model.training
    model.eval()
    assert all(p.grad is None for p in model.parameters())  # only d loss / d x was computed


def test_fgsm_registered_params_validated() -> None:
    cls = get_attack("fgsm")
    assert cls.Params().epsilon == 0.01 and cls.Params().relative_cap == 0.25
    with pytest.raises(Exception, match="epsilon"):
        cls(epsilon=-1)


def test_adversarial_training_loss_is_loss_on_attacked_batch(small_tagger) -> None:  # type: ignore[no-untyped-def]
    from hepadv import get_defence

    data, model, x, y = small_tagger
    defence = get_defence("adversarial_training")(epsilon=0.05)
    masks = FeatureMasks.from_spec(data.spec, "cpu")
    w = torch.ones(len(y))

    def loss_fn(logits: torch.Tensor, yy: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, yy)

    model.eval()
    raw = loss_fn(model(x), y, w).item()
    adv = defence.batch_loss(model, x, y, w, loss_fn, masks).item()
    assert adv > raw
    mixed = get_defence("adversarial_training")(epsilon=0.05, mix_alpha=0.5)
    model.eval()
    assert mixed.batch_loss(model, x, y, w, loss_fn, masks).item() == pytest.approx((raw + adv) / 2, rel=1e-5)


def test_minimum_value_of_wide_feature_is_not_mistaken_for_default() -> None:
    from hepadv.data.base import FeatureSpec

    spec = FeatureSpec(("Jet_pt",), np.array([False]), np.array([19.999]), np.array([120.0]), np.array([150.0]))
    x = torch.as_tensor(spec.scale(np.array([[19.999], [20.0], [300.0]])))
    masks = FeatureMasks.from_spec(spec, "cpu")
    assert masks.movable(x)[:, 0].tolist() == [False, True, True]
