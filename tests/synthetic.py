"""Small synthetic jets for fast training tests: 4 separable-ish classes, integer features, missing values."""

from __future__ import annotations

import numpy as np
import torch

from hepadv.cards.schema import PreprocessSection
from hepadv.data.base import RawJets
from hepadv.data.preprocess import PreparedData, prepare

NAMES = ("Jet_pt", "Jet_eta", "cont_a", "cont_b", "n_tracks", "category")
INTEGER = ("n_tracks", "category")


def make_raw(n: int = 4000, seed: int = 0) -> RawJets:
    rng = np.random.default_rng(seed)
    labels = rng.choice(4, size=n, p=[0.3, 0.1, 0.2, 0.4]).astype(np.int64)
    pt = (20 + rng.exponential(60 + 20 * (labels < 2), n)).astype(np.float32)
    eta = rng.uniform(-2.5, 2.5, n).astype(np.float32)
    a = rng.normal(2.0 - labels * 0.8, 1.0).astype(np.float32)
    b = rng.normal(labels * 0.5, 1.0).astype(np.float32)
    n_tracks = rng.poisson(6 - labels).astype(np.float32)
    category = rng.integers(0, 3, n).astype(np.float32)
    x = np.stack([pt, eta, a, b, n_tracks, category], axis=1)
    x[rng.random(n) < 0.2, 3] = np.nan  # missing values in one feature
    return RawJets(x, labels, pt, eta, NAMES, INTEGER)


def make_prepared(n: int = 4000, seed: int = 0) -> PreparedData:
    return prepare(make_raw(n, seed), PreprocessSection(pt_bins=5, eta_bins=5, cache=False))


def mean_ce(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross entropy without gradients: the quantity attacks must raise."""
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(model(x), y).item()
