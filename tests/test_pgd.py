"""PGD: FGSM is its one-step case, it beats FGSM, stays in FGSM's ball, and ends in the corner for a linear model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepadv import get_attack, get_defence
from hepadv.attacks.base import FeatureMasks
from hepadv.attacks.fgsm import FGSM
from hepadv.attacks.pgd import PGD
from tests.synthetic import mean_ce


def test_one_step_of_size_epsilon_is_fgsm(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    for cap in (None, 0.25):
        fgsm = FGSM(epsilon=0.05, relative_cap=cap)(model, x, y, data.spec)
        pgd = PGD(epsilon=0.05, relative_cap=cap, steps=1, step_size=0.05)(model, x, y, data.spec)
        torch.testing.assert_close(pgd, fgsm, rtol=0, atol=1e-6)


def test_pgd_raises_the_loss_at_least_as_much_as_fgsm(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    fgsm = mean_ce(model, FGSM(epsilon=0.3, relative_cap=None)(model, x, y, data.spec), y)
    pgd = mean_ce(model, PGD(epsilon=0.3, relative_cap=None, steps=20)(model, x, y, data.spec), y)
    assert pgd > fgsm > mean_ce(model, x, y)


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_stays_in_fgsm_ball_and_leaves_integers_and_defaults(small_tagger, random_start: bool) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    spec = data.spec
    x_adv = PGD(epsilon=2.0, relative_cap=0.25, steps=5, random_start=random_start)(model, x, y, spec)
    orig, orig_adv = spec.unscale(x.numpy()), spec.unscale(x_adv.numpy())
    shift = np.abs(orig_adv - orig)
    assert (shift <= np.minimum(2.0 * spec.std, 0.25 * np.abs(orig)) * (1 + 1e-4) + 1e-4).all()
    moved = (x_adv != x).numpy()
    at_default = np.isclose(x.numpy(), spec.scaled_defaults, atol=1e-5)
    assert not moved[:, spec.integer].any() and not moved[at_default].any()
    assert moved[~at_default & ~spec.integer].mean() > 0.9


def test_random_start_is_reproducible_with_seed_and_follows_global_rng_without(small_tagger) -> None:  # type: ignore[no-untyped-def]
    from hepadv.random import RandomStream

    data, model, x, y = small_tagger
    seeded = PGD(epsilon=0.1, steps=2, random_start=True)
    torch.testing.assert_close(seeded(model, x, y, data.spec, RandomStream(3)),
                               seeded(model, x, y, data.spec, RandomStream(3)), rtol=0, atol=0)
    assert not torch.equal(seeded(model, x, y, data.spec, RandomStream(3)),
                           seeded(model, x, y, data.spec, RandomStream(4)))
    free = PGD(epsilon=0.1, steps=2, random_start=True)
    torch.manual_seed(5)
    first = free(model, x, y, data.spec)
    torch.manual_seed(5)
    torch.testing.assert_close(free(model, x, y, data.spec), first, rtol=0, atol=0)
    assert not torch.equal(free(model, x, y, data.spec), first)


def test_linear_binary_model_ends_in_the_fgsm_corner(small_tagger) -> None:  # type: ignore[no-untyped-def]
    """For a linear two-class model the loss gradient has the same sign everywhere: FGSM is optimal."""
    data, _, x, _ = small_tagger
    torch.manual_seed(1)
    linear = torch.nn.Linear(x.shape[1], 2)
    y = (x[:, 2] > 0).long()
    fgsm = FGSM(epsilon=0.2, relative_cap=None)(linear, x, y, data.spec)
    pgd = PGD(epsilon=0.2, relative_cap=None, steps=7, random_start=True)(linear, x, y, data.spec)
    torch.testing.assert_close(pgd, fgsm, rtol=0, atol=1e-5)


def test_pgd_registered_and_params_validated() -> None:
    assert get_attack("pgd") is PGD
    assert PGD.Params().steps == 10 and PGD.Params().relative_cap == 0.25
    for bad in ({"steps": 0}, {"epsilon": -1}, {"step_size": 0}, {"stepz": 3}):
        with pytest.raises(Exception, match=next(iter(bad))[:4]):
            PGD(bad)


def test_pgd_adversarial_training_uses_training_rng(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    defence = get_defence("adversarial_training")(
        attack="pgd", epsilon=0.1, attack_params={"steps": 3, "random_start": True})
    assert defence.attack.params.steps == 3 and defence.attack.params.random_start
    masks = FeatureMasks.from_spec(data.spec, "cpu")
    w = torch.ones(len(y))

    def loss_fn(logits: torch.Tensor, yy: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, yy)

    model.eval()
    assert defence.batch_loss(model, x, y, w, loss_fn, masks).item() > loss_fn(model(x), y, w).item()
    fixed = get_defence("adversarial_training")(attack="pgd", attack_params={"steps": 7})
    assert fixed.attack.params.steps == 7
