"""Distance correlation of the use_disco variant: from scratch against a plain formula, incremental exactness."""

from __future__ import annotations

import numpy as np
import torch

from hepadv.attacks.conservattack.disco import DisCoStats, distance_correlation, relative_change


def plain_dcor(x: np.ndarray, y: np.ndarray) -> float:
    """Szekely's V-statistic distance correlation, written out plainly."""
    def centred(v: np.ndarray) -> np.ndarray:
        a = np.abs(v[:, None] - v[None, :])
        return a - a.mean(axis=0) - a.mean(axis=1)[:, None] + a.mean()

    a, b = centred(x), centred(y)
    dcov2, vx, vy = (a * b).mean(), (a * a).mean(), (b * b).mean()
    return float(np.sqrt(dcov2 / np.sqrt(vx * vy)))


def test_from_scratch_matches_the_plain_formula_and_sees_nonlinear_dependence() -> None:
    rng = np.random.default_rng(1)
    u = rng.normal(size=300)
    x = np.stack([u, u**2, rng.normal(size=300), 2 * u + 1], axis=1)
    r, constant = distance_correlation(torch.as_tensor(x))
    assert not constant.any()
    for j in range(4):
        for k in range(4):
            expect = plain_dcor(x[:, j], x[:, k]) if j != k else 1.0
            assert abs(float(r[j, k]) - expect) < 1e-12
    assert abs(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) < 0.2 < float(r[0, 1])  # u^2: Pearson blind, dCor not
    assert abs(float(r[0, 3]) - 1) < 1e-12


def test_candidate_scores_equal_recomputation() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(64, 6, generator=gen, dtype=torch.float64)
    x[:, 1] += x[:, 0] ** 2
    keep = torch.ones(6, dtype=torch.bool)
    stats = DisCoStats(x, keep)
    stats.apply(torch.tensor([5, 9]), x[[5, 9]] + 0.3)  # move away from the clean set first
    rows = torch.tensor([0, 5, 17, 63])
    values = stats.x[rows][:, :, None] + torch.randn(4, 6, 3, generator=gen, dtype=torch.float64)
    got = stats.score(rows, values)
    r_clean, _ = distance_correlation(x)
    worst = 0.0
    for b, i in enumerate(rows.tolist()):
        for j in range(6):
            for c in range(3):
                y = stats.x.clone()
                y[i, j] = values[b, j, c]
                r, _ = distance_correlation(y)
                worst = max(worst, abs(float(got[b, j, c]) - relative_change(r, r_clean, keep)))
    assert worst < 1e-10


def test_thousands_of_changes_stay_exact() -> None:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(50, 5, generator=gen, dtype=torch.float64)
    stats = DisCoStats(x, torch.ones(5, dtype=torch.bool))
    for step in range(2000):  # one feature of a few rows, or any features of any rows (as a block applies)
        rows = torch.randperm(50, generator=gen)[: 3 if step % 2 else 8]
        new = stats.x[rows].clone()
        if step % 2:
            j = int(torch.randint(5, (1,), generator=gen))
            new[:, j] += 0.1 * torch.randn(3, generator=gen, dtype=torch.float64)
        else:
            which = torch.rand(new.shape, generator=gen) < 0.3
            new[which] += 0.1 * torch.randn(int(which.sum()), generator=gen, dtype=torch.float64)
        stats.apply(rows, new)
    r, _ = distance_correlation(stats.x)
    r_clean, _ = distance_correlation(x)
    fresh = DisCoStats(stats.x, torch.ones(5, dtype=torch.bool))
    scale = float(fresh.s.abs().max())
    assert float((stats.s - fresh.s).abs().max()) / scale < 1e-10
    assert float((stats.centred - fresh.centred).abs().max()) < 1e-10
    assert float((stats.r - r).abs().max()) < 1e-10
    assert abs(stats.dfn - relative_change(r, r_clean, torch.ones(5, dtype=torch.bool))) < 1e-10


def test_constant_feature_is_left_out() -> None:
    x = torch.randn(30, 3, dtype=torch.float64)
    x[:, 2] = 1.5
    stats = DisCoStats(x, torch.ones(3, dtype=torch.bool))
    assert not bool(stats.keep[2])
    scores = stats.score(torch.tensor([0]), stats.x[[0]][:, :, None] + 0.5)
    assert torch.isinf(scores[0, 2]).all() and torch.isfinite(scores[0, :2]).all()
