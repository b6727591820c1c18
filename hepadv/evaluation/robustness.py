"""How much a distortion (attack, noise, shift) costs in AUC.

The paper's susceptibility is AUC(distorted) - AUC(raw), tracked per epoch checkpoint against the raw AUC
(fig. 9): a curve falling towards higher raw AUC means better-performing checkpoints are more fragile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _auc_of(entry: Any) -> float | None:
    """Accept either a metrics dict from ``evaluate_discriminators`` or a bare AUC number."""
    value = entry.get("auc") if isinstance(entry, Mapping) else entry
    return None if value is None else float(value)


def auc_drop(raw_metrics: Mapping[str, Any], attacked_metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Raw and attacked AUC, their difference and the relative change, per discriminator present in both.

    ``delta`` is the susceptibility (negative when the attack hurts); ``relative`` = delta / raw is what
    the paper quotes as e.g. "-21 %" for CvsL. Missing AUCs propagate as ``None`` to stay JSON-ready.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in raw_metrics:
        if name not in attacked_metrics:
            continue
        raw, attacked = _auc_of(raw_metrics[name]), _auc_of(attacked_metrics[name])
        delta = None if raw is None or attacked is None else attacked - raw
        relative = None if delta is None or raw == 0 else delta / raw
        out[name] = {"raw": raw, "attacked": attacked, "delta": delta, "relative": relative}
    return out


def susceptibility(raw_auc: float | np.ndarray, distorted_auc: float | np.ndarray) -> float | np.ndarray:
    """AUC(distorted) - AUC(raw); a float for scalars, an array for per-epoch sequences."""
    diff = np.asarray(distorted_auc, dtype=np.float64) - np.asarray(raw_auc, dtype=np.float64)
    return float(diff) if diff.ndim == 0 else diff
