"""Every Data/MC histogram, declared in one place (as BTV commissioning and columnflow do).

Tagger outputs and discriminators: 60 bins over [-0.2, 1] (thesis app. A.5), undefined values filled at
``DEFAULT_VALUE`` = -0.1, with categories ``kind`` (data, mc), ``variation`` (raw or an MC distortion) and
``flavour`` (b, bb, c, udsg for MC by truth; ``data`` for data, which has no truth). Weight storage keeps the
sum of squared weights, so statistical errors survive negative weights (genWeight < 0, W+c same-sign).
Control plots: one regular axis per kinematic variable, with ``kind`` and ``flavour`` categories.
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_BINS, LOW, HIGH = 60, -0.2, 1.0
DEFAULT_VALUE = -0.1
FLAVOURS: tuple[str, ...] = ("b", "bb", "c", "udsg")
DATA_FLAVOUR = "data"

#: Control variables: name -> (bins, low, high, axis label).
CONTROL_AXES: dict[str, tuple[int, float, float, str]] = {
    "m_ll": (60, 61.0, 121.0, r"$m_{\mu\mu}$ [GeV]"),
    "pt_ll": (50, 0.0, 200.0, r"$p_T^{\mu\mu}$ [GeV]"),
    "mu1_pt": (50, 0.0, 200.0, r"leading muon $p_T$ [GeV]"),
    "mu2_pt": (50, 0.0, 150.0, r"subleading muon $p_T$ [GeV]"),
    "soft_mu_pt": (25, 0.0, 25.0, r"soft muon $p_T$ [GeV]"),
    "mt_w": (50, 0.0, 200.0, r"$m_T(\mu, p_T^{miss})$ [GeV]"),
    "m_mumu": (50, 0.0, 200.0, r"$m(\mu, \mu_{soft})$ [GeV]"),
    "met_pt": (50, 0.0, 300.0, r"$p_T^{miss}$ [GeV]"),
    "n_jets": (10, -0.5, 9.5, "clean jets"),
    "jet_pt": (50, 20.0, 320.0, r"jet $p_T$ [GeV]"),
    "jet_eta": (50, -2.5, 2.5, r"jet $\eta$"),
}


KINDS: tuple[str, ...] = ("data", "mc")


def is_jet_control(name: str) -> bool:
    """A control variable filled once per jet (``jet_*``); the others once per selected event."""
    return name.startswith("jet_")


def output_hist(variations: tuple[str, ...] = ("raw",), label: str = "tagger output") -> Any:
    """Categories are fixed up front, so histograms from any executor (any fill order) have equal axes."""
    import hist

    return hist.Hist(
        hist.axis.StrCategory(list(KINDS), name="kind"),
        hist.axis.StrCategory(list(variations), name="variation"),
        hist.axis.StrCategory([*FLAVOURS, DATA_FLAVOUR], name="flavour"),
        hist.axis.Regular(N_BINS, LOW, HIGH, name="value", label=label),
        storage=hist.storage.Weight(),
    )


def control_hist(name: str) -> Any:
    import hist

    bins, low, high, label = CONTROL_AXES[name]
    return hist.Hist(
        hist.axis.StrCategory(list(KINDS), name="kind"),
        hist.axis.StrCategory([*FLAVOURS, DATA_FLAVOUR], name="flavour"),
        hist.axis.Regular(bins, low, high, name="value", label=label),
        storage=hist.storage.Weight(),
    )


def per_jet(event_values: np.ndarray, jets: Any) -> np.ndarray:
    """Broadcast one value per selected event (weight, sign) to each of that event's histogrammed jets."""
    import awkward as ak

    return np.repeat(np.asarray(event_values), ak.to_numpy(ak.num(jets)))


def fill_value(values: np.ndarray) -> np.ndarray:
    """Undefined outputs (NaN: no valid denominator, missing stored discriminator) go to the default bin."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, DEFAULT_VALUE)
