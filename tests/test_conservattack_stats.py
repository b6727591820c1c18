"""Incremental statistics of CONSERVAttack (seed 004 app. B) against from-scratch recomputation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepadv.attacks.conservattack.stats import IncrementalStats, bin_edges, bin_index, histograms, recompute


def correlated(n: int, d: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d))
    mix = np.eye(d) + 0.4 * rng.normal(size=(d, d))
    x = z @ mix + rng.normal(size=d) * 3
    x[:, d - 1] = 2.5  # a constant feature: Pearson undefined, left out of dFN
    return torch.as_tensor(x)


def scratch(stats: IncrementalStats) -> tuple[torch.Tensor, torch.Tensor, float]:
    return recompute(stats.x, stats.edges, stats.clean_counts, stats.c_clean, stats.keep)


def random_value(stats: IncrementalStats, j: int, rng: np.random.Generator) -> float:
    lo, hi = float(stats.edges[j, 0]), float(stats.edges[j, -1])
    return float(rng.uniform(lo, hi))


def test_histograms_match_numpy_bins_exactly() -> None:
    x = correlated(1000, 5)
    edges = torch.as_tensor(bin_edges(x.numpy(), 37))
    # values sitting exactly on inner edges must land where np.histogram puts them
    x[:37, 0] = edges[0, :37]
    counts = histograms(x, edges)
    for j in range(5):
        np.testing.assert_array_equal(counts[j].numpy(), np.histogram(x[:, j].numpy(), bins=edges[j].numpy())[0])


def test_thousands_of_single_changes_stay_exact() -> None:
    stats = IncrementalStats(correlated(400, 6), num_bins=25)
    assert stats.constant.tolist() == [False] * 5 + [True]
    rng = np.random.default_rng(1)
    for _ in range(3000):
        i, j = int(rng.integers(stats.n)), int(rng.integers(stats.d - 1))
        stats.apply_single(i, j, random_value(stats, j, rng))
    jsd, c, dfn = scratch(stats)
    assert float(jsd.max()) > 0.05 and dfn > 0.05  # the set really moved
    assert torch.allclose(stats.jsd, jsd, rtol=0, atol=1e-10)
    assert torch.allclose(stats.pearson * stats._keep2, c, rtol=0, atol=1e-10)
    assert stats.dfn == pytest.approx(dfn, abs=1e-10)
    assert torch.allclose(stats.mean, stats.x.mean(dim=0), rtol=0, atol=1e-10)
    assert torch.equal(stats.bins, bin_index(stats.x, stats.edges))  # the cached bins follow every change


def test_block_updates_stay_exact() -> None:
    stats = IncrementalStats(correlated(300, 5), num_bins=20)
    rng = np.random.default_rng(2)
    for _ in range(300):
        rows = torch.as_tensor(rng.choice(stats.n, size=7, replace=False))
        new = stats.x[rows].clone()
        for r in range(7):
            j = int(rng.integers(stats.d - 1))
            new[r, j] = random_value(stats, j, rng)
        stats.apply(rows, new)
    jsd, c, dfn = scratch(stats)
    assert torch.equal(stats.bins, bin_index(stats.x, stats.edges))
    assert torch.allclose(stats.jsd, jsd, rtol=0, atol=1e-10)
    assert torch.allclose(stats.pearson * stats._keep2, c, rtol=0, atol=1e-10)
    assert stats.dfn == pytest.approx(dfn, abs=1e-10)


def test_paper_formula_as_printed_is_not_exact() -> None:
    """App. B.2 divides the deviation products by n - 1; after many changes that drifts from the truth."""
    x = correlated(200, 3)[:, :2]
    n = len(x)
    xs = x.clone()
    mu = xs.mean(dim=0).clone()
    cov = torch.cov(xs.T).clone()
    rng = np.random.default_rng(3)
    for _ in range(500):
        i, j, k = int(rng.integers(n)), int(rng.integers(2)), None
        k = 1 - j
        old = float(xs[i, j])
        new = old + float(rng.normal())
        d_old, mu_new = old - mu[j], mu[j] + (new - old) / n
        d_new = new - mu_new
        dk = xs[i, k] - mu[k]
        cov[j, j] += (d_new**2 - d_old**2) / (n - 1)
        cov[j, k] += (d_new * dk - d_old * dk) / (n - 1)
        cov[k, j] = cov[j, k]
        mu[j] = mu_new
        xs[i, j] = new
    stats = IncrementalStats(x, num_bins=10)
    for i in range(n):
        stats.apply(torch.tensor([i]), xs[i : i + 1])
    truth = torch.cov(xs.T)
    assert torch.allclose(stats.comoment / (n - 1), truth, rtol=0, atol=1e-10)
    assert float((cov - truth).abs().max()) > 1e-4


def test_candidate_scores_equal_recomputation() -> None:
    stats = IncrementalStats(correlated(250, 5), num_bins=15)
    rng = np.random.default_rng(4)
    for _ in range(200):  # a set that already differs from the clean one
        j = int(rng.integers(4))
        stats.apply_single(int(rng.integers(stats.n)), j, random_value(stats, j, rng))
    rows = torch.tensor([3, 17, 101])
    values = torch.stack([torch.stack([torch.as_tensor([random_value(stats, j, rng) for _ in range(4)])
                                       for j in range(stats.d)]) for _ in rows])
    jsd, dfn = stats.score(rows, values)
    assert torch.isinf(jsd[:, -1]).all() and torch.isinf(dfn[:, -1]).all()  # constant feature
    for b, i in enumerate(rows.tolist()):
        for j in range(stats.d - 1):
            for c in range(values.shape[2]):
                x = stats.x.clone()
                x[i, j] = values[b, j, c]
                ref_jsd, _, ref_dfn = recompute(x, stats.edges, stats.clean_counts, stats.c_clean, stats.keep)
                assert float(jsd[b, j, c]) == pytest.approx(float(ref_jsd[j]), abs=1e-12)
                assert float(dfn[b, j, c]) == pytest.approx(ref_dfn, abs=1e-12)


def test_all_constant_is_an_error() -> None:
    with pytest.raises(ValueError, match="every feature is constant"):
        IncrementalStats(torch.ones(10, 3, dtype=torch.float64), num_bins=4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_matches_cpu() -> None:
    x = correlated(500, 6)
    cpu, gpu = IncrementalStats(x, 20), IncrementalStats(x.cuda(), 20)
    rng = np.random.default_rng(5)
    for _ in range(500):
        i, j = int(rng.integers(500)), int(rng.integers(5))
        v = random_value(cpu, j, rng)
        cpu.apply_single(i, j, v)
        gpu.apply_single(i, j, v)
    assert torch.allclose(cpu.jsd, gpu.jsd.cpu(), atol=1e-10) and cpu.dfn == pytest.approx(gpu.dfn, abs=1e-10)
