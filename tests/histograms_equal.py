"""Shared assertion for Data/MC tests: two runs' hists.npz hold bit-identical histograms."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Same taggers, observables, control plots, CvsL x CvsB histograms and bootstrap replicas, with equal
    axes, values and variances."""
    assert set(a["hists"]) == set(b["hists"]) and set(a["controls"]) == set(b["controls"])
    assert set(a.get("replicas", {})) == set(b.get("replicas", {}))
    pairs = [(a["hists"][t][o], b["hists"][t][o]) for t in a["hists"] for o in a["hists"][t]]
    pairs += [(a["controls"][c], b["controls"][c]) for c in a["controls"]]
    assert set(a.get("sf", {})) == set(b.get("sf", {}))  # the scale factors' CvsL x CvsB histograms
    pairs += [(a["sf"][t], b["sf"][t]) for t in a.get("sf", {})]
    assert set(a.get("replicas", {})) == set(b.get("replicas", {}))
    pairs += [(a["replicas"][t][o], b["replicas"][t][o]) for t in a.get("replicas", {}) for o in a["replicas"][t]]
    for ha, hb in pairs:
        assert ha.axes == hb.axes
        np.testing.assert_array_equal(ha.values(), hb.values())
        np.testing.assert_array_equal(ha.variances(), hb.variances())
