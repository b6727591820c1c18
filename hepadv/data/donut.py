"""Donut (seed 004 sec. 9): a 2-D Gaussian signal inside a ring of background, to see an attack and a detector.

Signal: x1, x2 ~ N(0, sigma^2) independently. Background: r ~ N(ring_radius, sigma^2), theta ~ U(0, 2 pi),
(x1, x2) = r (cos theta, sin theta). Both classes are linearly uncorrelated and overlap a little, so a
classifier is good but not perfect, and every adversarial move can be drawn in the plane.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from hepadv.components import ComponentParams
from hepadv.data.base import Dataset, MissingRules, RawJets

#: Class 0 is background, class 1 signal: the binary discriminator is "signalvsbackground".
DONUT_CLASSES: tuple[str, ...] = ("background", "signal")
DONUT_FEATURES: tuple[str, ...] = ("x1", "x2")


def generate_donut(n_events: int, sigma: float, ring_radius: float, signal_fraction: float, seed: int,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, 2) float32, labels (n,) int64): signal Gaussian at the origin, background ring."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_events) < signal_fraction).astype(np.int64)
    gauss = rng.normal(0.0, sigma, size=(n_events, 2))
    r = rng.normal(ring_radius, sigma, size=n_events)
    theta = rng.uniform(0.0, 2.0 * np.pi, size=n_events)
    ring = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    features = np.where(labels[:, None] == 1, gauss, ring).astype(np.float32)
    return features, labels


class Donut(Dataset):
    """Seed 004 sec. 9 toy: binary task background (0) vs signal (1) in two features x1, x2."""

    name: ClassVar[str] = "donut"

    class Params(ComponentParams):
        n_events: int = Field(20_000, ge=100, description="events to generate (both classes)")
        sigma: float = Field(1.0, gt=0, description="signal Gaussian width and ring thickness")
        ring_radius: float = Field(4.0, ge=0, description="radius of the background ring")
        signal_fraction: float = Field(0.5, gt=0, lt=1, description="expected share of signal events")
        seed: int = Field(1, ge=0, description="the same seed gives the same events")

    def load(self) -> RawJets:
        p = self.params
        features, labels = generate_donut(p.n_events, p.sigma, p.ring_radius, p.signal_fraction, p.seed)
        ones = np.ones(len(labels), dtype=np.float32)
        # pt/eta only feed the kinematic reweighting; donut cards set reweight: none.
        return RawJets(features, labels, 50.0 * ones, 0.0 * ones, DONUT_FEATURES, (), DONUT_CLASSES,
                       MissingRules(placeholders=(), deepcsv=False))
