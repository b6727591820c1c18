"""(pT, eta) sample weights (thesis 2.3): flavour-independent kinematics and balanced classes."""

from __future__ import annotations

from typing import Literal

import numpy as np


def bin_indices(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value; under/overflow go to the first/last bin."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def kinematic_weights(
    pt: np.ndarray,
    eta: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    target: Literal["average", "flat", "none"] = "average",
    bins: tuple[int, int] = (50, 50),
    pt_range: tuple[float, float] = (20.0, 900.0),
    eta_range: tuple[float, float] = (-2.5, 2.5),
) -> np.ndarray:
    """Weight = target(bin) / own-flavour count(bin), rescaled to mean 1.

    The target is a unit-sum density (the average of the per-class densities, or flat), so every
    class gets the same total weight. The thesis averages raw counts instead; that target follows the
    most populous flavour (udsg, 45 % of the toy jets), where averaging densities gives each flavour an
    equal say in the common (pT, eta) shape. and the weighted (pT, eta) distribution of each class equals
    the target (up to bins a class does not populate). Mean weight is 1. ``none`` returns ones.
    """
    n = len(labels)
    if target == "none":
        return np.ones(n, dtype=np.float32)
    pt_edges = np.linspace(*pt_range, bins[0] + 1)
    eta_edges = np.linspace(*eta_range, bins[1] + 1)
    flat_bin = bin_indices(pt, pt_edges) * bins[1] + bin_indices(eta, eta_edges)
    n_bins = bins[0] * bins[1]
    counts = np.zeros((n_classes, n_bins))
    np.add.at(counts, (labels, flat_bin), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    density = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    present = totals[:, 0] > 0
    goal = density[present].mean(axis=0) if target == "average" else np.full(n_bins, 1.0 / n_bins)
    w = goal[flat_bin] / counts[labels, flat_bin]  # per class: sum over its jets = sum of goal over its bins
    # bins a class does not populate cannot follow the target: rescale so every class has equal total weight
    class_sum = np.bincount(labels, weights=w, minlength=n_classes)
    w *= (n / present.sum()) / class_sum[labels]
    return w.astype(np.float32)
