"""Gaussian noise and systematic shifts: known moments, exact shifts, exclusions, caps and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepadv import get_attack
from hepadv.attacks.base import FeatureMasks
from hepadv.attacks.noise import GaussianNoise
from hepadv.attacks.shift import SystematicShift
from hepadv.data.base import FeatureSpec
from hepadv.errors import HepadvError
from hepadv.random import RandomStream
from tests.synthetic import mean_ce

BLIND = torch.nn.Identity()  # these distortions never look at the model


@pytest.fixture(scope="module")
def wide() -> tuple[FeatureSpec, torch.Tensor]:
    """Two continuous features far from zero (the 25 % cap never binds), one integer, no defaults."""
    names = ("Jet_pt", "cont", "n_tracks")
    spec = FeatureSpec(names, np.array([False, False, True]), np.array([-1.0, -1.0, -1.0]),
                       np.array([100.0, 50.0, 5.0]), np.array([10.0, 2.0, 2.0]))
    rng = np.random.default_rng(0)
    raw = np.stack([100 + 10 * rng.standard_normal(200_000), 50 + 2 * rng.standard_normal(200_000),
                    rng.integers(0, 10, 200_000)], axis=1)
    return spec, torch.as_tensor(spec.scale(raw), dtype=torch.float32)


def test_noise_has_the_requested_moments_and_spares_integers(wide) -> None:  # type: ignore[no-untyped-def]
    spec, x = wide
    d = (GaussianNoise(sigma=0.1, mu=0.02)(BLIND, x, None, spec) - x).numpy()
    assert abs(d[:, :2].mean() - 0.02) < 1e-3 and abs(d[:, :2].std() - 0.1) < 1e-3
    assert abs(np.corrcoef(d[:, 0], d[:, 1])[0, 1]) < 0.01  # independent per feature
    assert not d[:, 2].any()


def test_noise_is_reproducible_per_seed_and_differs_between_batches(wide) -> None:  # type: ignore[no-untyped-def]
    spec, x = wide
    noise = GaussianNoise(sigma=0.1, batch_size=1000)
    a = noise(BLIND, x[:3000], None, spec, RandomStream(0))
    torch.testing.assert_close(a, noise(BLIND, x[:3000], None, spec, RandomStream(0)), rtol=0, atol=0)
    assert not torch.equal(a, noise(BLIND, x[:3000], None, spec, RandomStream(1)))
    d = (a - x[:3000])[:, 0]
    assert not torch.allclose(d[:1000], d[1000:2000])


@pytest.mark.parametrize("chunks", [[5000], [1, 4096, 903], [2500, 2500], [4095, 2, 903]])
def test_noise_by_chunks_equals_noise_in_one_pass(wide, chunks: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Each chunk gets the stream at its first row: any chunking and batch size reproduce the single pass."""
    spec, x = wide
    x = x[:5000]
    whole = GaussianNoise(sigma=0.1)(BLIND, x, None, spec, RandomStream(7, ("mc",)))
    parts, start = [], 0
    for n in chunks:
        stream = RandomStream(7, ("mc",)).at(start)
        parts.append(GaussianNoise(sigma=0.1, batch_size=333)(BLIND, x[start : start + n], None, spec, stream))
        start += n
    torch.testing.assert_close(torch.cat(parts), whole, rtol=0, atol=0)


def test_noise_components_pickle_and_keep_no_state(wide) -> None:  # type: ignore[no-untyped-def]
    import pickle

    spec, x = wide
    noise = GaussianNoise(sigma=0.1)
    before = pickle.dumps(noise)
    noise(BLIND, x[:100], None, spec, RandomStream(0))
    assert pickle.dumps(noise) == before
    clone = pickle.loads(before)
    torch.testing.assert_close(clone(BLIND, x[:100], None, spec, RandomStream(0)),
                               noise(BLIND, x[:100], None, spec, RandomStream(0)), rtol=0, atol=0)


def test_noise_leaves_defaults_and_respects_the_cap(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    spec = data.spec
    x_n = GaussianNoise(sigma=3.0, relative_cap=0.25)(model, x, None, spec)
    orig, orig_n = spec.unscale(x.numpy()), spec.unscale(x_n.numpy())
    assert (np.abs(orig_n - orig) <= 0.25 * np.abs(orig) * (1 + 1e-4) + 1e-4).all()
    at_default = np.isclose(x.numpy(), spec.scaled_defaults, atol=1e-5)
    assert at_default.any() and not (x_n != x).numpy()[at_default].any()
    assert mean_ce(model, x_n, y) != mean_ce(model, x, y)


@pytest.mark.parametrize("direction,sign", [("up", 1.0), ("down", -1.0)])
def test_shift_moves_every_continuous_feature_by_magnitude_times_factor(wide, direction: str, sign: float) -> None:  # type: ignore[no-untyped-def]
    spec, x = wide
    attack = SystematicShift(direction=direction, factors={"cont": 4}, default_factor=2)
    d = (attack(BLIND, x, None, spec) - x).numpy()
    np.testing.assert_allclose(d[:, 0], sign * 0.05 * 2, rtol=1e-5)
    np.testing.assert_allclose(d[:, 1], sign * 0.05 * 4, rtol=1e-5)
    assert not d[:, 2].any()


def test_shift_patterns_later_entries_win() -> None:
    names = ("Jet_DeepCSV_trackSip2dSig_0", "Jet_DeepCSV_trackSip3dSig_0", "Jet_pt")
    s = SystematicShift(factors={"*Sip*": 3, "*Sip3d*": 5}).factor_per_feature(names)
    assert s.tolist() == [3.0, 5.0, 1.0]


def test_shift_errors_name_the_entry(wide) -> None:  # type: ignore[no-untyped-def]
    spec, x = wide
    with pytest.raises(HepadvError, match=r"factors: 'Jet_ptt' matches no input feature"):
        SystematicShift(factors={"Jet_ptt": 2})(BLIND, x, None, spec)
    with pytest.raises(Exception, match="less than or equal to 5"):
        SystematicShift(factors={"Jet_pt": 6})
    with pytest.raises(Exception, match="direction"):
        SystematicShift(direction="sideways")


def test_distortions_registered_and_label_free() -> None:
    for name in ("gaussian_noise", "systematic_shift"):
        cls = get_attack(name)
        assert cls.needs_labels is False


def test_noise_training_follows_global_rng(small_tagger) -> None:  # type: ignore[no-untyped-def]
    from hepadv import get_defence

    data, _, x, _ = small_tagger
    defence = get_defence("adversarial_training")(attack="gaussian_noise", attack_params={"sigma": 0.05})
    masks = FeatureMasks.from_spec(data.spec, "cpu")
    torch.manual_seed(3)
    a = defence.attack.perturb(BLIND, x, None, masks, None)  # type: ignore[arg-type]
    torch.manual_seed(3)
    torch.testing.assert_close(defence.attack.perturb(BLIND, x, None, masks, None), a)  # type: ignore[arg-type]
