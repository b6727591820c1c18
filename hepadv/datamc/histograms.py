"""Every Data/MC histogram, declared in one place (as BTV commissioning and columnflow do).

Tagger outputs and discriminators: 60 bins over [-0.2, 1] (thesis app. A.5), undefined values filled at
``DEFAULT_VALUE`` = -0.1, with categories ``kind`` (data, mc), ``variation`` (raw or an MC distortion) and
``flavour`` (b, bb, c, udsg for MC by truth; ``data`` for data, which has no truth). Weight storage keeps the
sum of squared weights, so statistical errors survive negative weights (genWeight < 0, W+c same-sign).
Control plots: one regular axis per kinematic variable, with ``kind`` and ``flavour`` categories.
Bootstrap replicas of each output (``replica_hist``): ``kind``, ``variation``, an integer ``replica`` axis
and the same value axis, summed over flavours (KL and JS compare data with the MC sum), plain double
storage; filled by ``fill_replicas`` from per-event Poisson weights (``hepadv.evaluation.replicas``).
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


def replica_hist(variations: tuple[str, ...], replicas: int, label: str = "tagger output") -> Any:
    """(kind, variation, replica, value) bootstrap replicas of one output, summed over flavours."""
    import hist

    return hist.Hist(  # no category overflow bins: R x 62 doubles per (kind, variation) is what it costs
        hist.axis.StrCategory(list(KINDS), name="kind", overflow=False),
        hist.axis.StrCategory(list(variations), name="variation", overflow=False),
        hist.axis.Integer(0, replicas, name="replica", underflow=False, overflow=False),
        hist.axis.Regular(N_BINS, LOW, HIGH, name="value", label=label),
        storage=hist.storage.Double(),
    )


def fill_replicas(h: Any, kind: str, variation: str, values: np.ndarray, weights: np.ndarray, groups: np.ndarray,
                  k: np.ndarray) -> None:
    """Add one chunk's replicas: event weight x the Poisson weight of the event's group, per replica.

    Bins come from the value axis itself (``axis.index``, flow bins included), so every value lands in the
    bin ``hist.fill`` gives it in the nominal histogram.
    """
    from hepadv.evaluation.replicas import replica_counts

    axis = h.axes["value"]
    counts = replica_counts(axis.index(fill_value(values)) + 1, weights, groups, k, len(axis) + 2)
    h.view(flow=True)[h.axes["kind"].index(kind), h.axes["variation"].index(variation)] += counts


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
