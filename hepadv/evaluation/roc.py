"""ROC curves, AUC and working-point efficiencies in the b-tagging convention.

A jet is tagged when its score is >= a threshold. The curve runs from the strictest threshold (nothing
tagged) to the loosest (everything tagged); equal scores are collapsed into one step so that ties give the
usual half credit in the AUC. Everything is one sort plus cumulative sums, so 10^6 jets take well under a
second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hepadv.data.spec import DEEPCSV_CLASSES
from hepadv.evaluation.discriminators import (
    Discriminator,
    discriminator,
    discriminator_from_logits,
    discriminators_for,
    get_discriminator,
    is_signal,
    jets_for,
)

#: Mistag rates of the standard working points.
WORKING_POINTS: dict[str, float] = {"loose": 0.1, "medium": 0.01, "tight": 0.001}


@dataclass(frozen=True)
class RocCurve:
    """Points of a ROC curve, ordered from the strictest to the loosest threshold.

    ``signal_eff`` (true-positive rate) and ``mistag`` (false-positive rate) start at 0 and end at 1;
    ``thresholds[i]`` is the smallest score tagged at point i (``+inf`` for the first point).
    """

    signal_eff: np.ndarray
    mistag: np.ndarray
    thresholds: np.ndarray

    def __len__(self) -> int:
        return len(self.thresholds)


def roc_curve(scores: np.ndarray, is_signal: np.ndarray, weights: np.ndarray | None = None) -> RocCurve:
    """ROC curve of ``scores`` for the signal/background split ``is_signal``.

    Vectorised: one sort, cumulative weighted sums, and one point per distinct score, so ties move the
    curve diagonally (what the pairwise definition of the AUC needs). Weights may be any non-negative
    per-jet weights; integer weights behave exactly like repeated jets.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    sig = np.asarray(is_signal, dtype=bool).ravel()
    if sig.shape != scores.shape:
        raise ValueError(f"scores ({scores.shape}) and is_signal ({sig.shape}) must have the same length")
    if scores.size == 0:
        raise ValueError("a ROC curve needs at least one signal and one background jet, got no jets")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; a ROC curve needs an ordering of all jets")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64).ravel()
        if weights.shape != scores.shape:
            raise ValueError(f"weights ({weights.shape}) and scores ({scores.shape}) must have the same length")

    order = np.argsort(scores)[::-1]
    s_sorted = scores[order]
    sig_sorted = sig[order]
    # Last index of each run of equal scores: only there is the threshold "score >= s" well defined.
    # Compared with != rather than np.diff so that runs of +-inf scores also count as ties.
    last = np.append(np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), len(s_sorted) - 1).astype(np.int64)
    if weights is None:
        # Integer counts: exact, and cheaper than carrying a weight array of ones.
        tp = np.cumsum(sig_sorted)[last]
        fp = last + 1 - tp
    else:
        w_sorted = weights[order]
        tp = np.cumsum(np.where(sig_sorted, w_sorted, 0.0))[last]
        fp = np.cumsum(np.where(sig_sorted, 0.0, w_sorted))[last]
    total_sig, total_bkg = float(tp[-1]), float(fp[-1])
    if total_sig <= 0 or total_bkg <= 0:
        raise ValueError(
            f"a ROC curve needs positive signal and background weight (got {total_sig:g} and {total_bkg:g})"
        )
    signal_eff = np.concatenate(([0.0], tp / total_sig))
    mistag = np.concatenate(([0.0], fp / total_bkg))
    thresholds = np.concatenate(([np.inf], s_sorted[last]))
    return RocCurve(signal_eff=signal_eff, mistag=mistag, thresholds=thresholds)


def auc(roc: RocCurve) -> float:
    """Area under the curve in (mistag, signal efficiency) space: P(score_sig > score_bkg) + 0.5 P(tie)."""
    x, y = roc.mistag, roc.signal_eff
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0)


def efficiencies_at_mistag(roc: RocCurve, mistag: np.ndarray) -> np.ndarray:
    """Vectorised ``efficiency_at_mistag`` (no range check); used to resample long curves for plotting."""
    m = np.asarray(mistag, dtype=np.float64)
    x, y = roc.mistag, roc.signal_eff
    # Last point with x <= m: along a vertical stretch (several points at the same mistag) this is the top,
    # the best efficiency reachable without exceeding the mistag rate.
    k = np.clip(np.searchsorted(x, m, side="right") - 1, 0, len(x) - 1)
    k1 = np.minimum(k + 1, len(x) - 1)
    dx = x[k1] - x[k]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(dx > 0, (m - x[k]) / dx, 0.0)
    return y[k] + np.clip(frac, 0.0, 1.0) * (y[k1] - y[k])


def efficiency_at_mistag(roc: RocCurve, mistag: float) -> float:
    """Signal efficiency at a given mistag rate, linearly interpolated along the ROC curve.

    Linear interpolation between neighbouring points is exact for the curve whose area ``auc`` measures
    (mixing the two thresholds at random); at a mistag shared by several points the highest efficiency wins.
    """
    if not 0.0 <= mistag <= 1.0:
        raise ValueError(f"mistag must be in [0, 1], got {mistag}")
    return float(efficiencies_at_mistag(roc, np.asarray(mistag)))


def threshold_at_mistag(roc: RocCurve, mistag: float) -> float:
    """Loosest score threshold whose mistag rate does not exceed ``mistag`` (the working-point cut)."""
    if not 0.0 <= mistag <= 1.0:
        raise ValueError(f"mistag must be in [0, 1], got {mistag}")
    k = int(np.searchsorted(roc.mistag, mistag, side="right")) - 1
    return float(roc.thresholds[max(k, 0)])


def discriminator_rocs(
    outputs: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None = None,
    names: tuple[str, ...] | list[str] | None = None,
    logits: bool = False,
    classes: tuple[str, ...] = DEEPCSV_CLASSES,
) -> dict[str, RocCurve | None]:
    """ROC curve per discriminator on the jets of its two class groups (``None`` if one group is empty).

    ``outputs`` are softmax probabilities, or logits when ``logits`` is true (stabler under underflow);
    ``names`` default to every discriminator of the task ``classes``.
    """
    outputs = np.asarray(outputs)
    labels = np.asarray(labels)
    if len(outputs) != len(labels):
        raise ValueError(f"{len(outputs)} outputs but {len(labels)} labels")
    score_fn = discriminator_from_logits if logits else discriminator
    rocs: dict[str, RocCurve | None] = {}
    for name in names or tuple(discriminators_for(classes)):
        disc: Discriminator = get_discriminator(name, classes)
        mask = jets_for(labels, disc)
        sig = is_signal(labels[mask], disc)
        w = None if weights is None else np.asarray(weights)[mask]
        if not sig.any() or sig.all():
            rocs[disc.name] = None
            continue
        # Scoring all jets and masking the 1-D result is cheaper than gathering rows of the 2-D outputs.
        rocs[disc.name] = roc_curve(score_fn(outputs, disc)[mask], sig, w)
    return rocs


def roc_metrics(roc: RocCurve | None) -> dict[str, Any]:
    """AUC and working-point efficiencies of one curve as plain floats (``None`` when there is no curve)."""
    if roc is None:
        return {"auc": None, "eff_at_mistag": dict.fromkeys(WORKING_POINTS)}
    return {
        "auc": auc(roc),
        "eff_at_mistag": {wp: efficiency_at_mistag(roc, m) for wp, m in WORKING_POINTS.items()},
    }


def evaluate_discriminators(
    probs: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None = None,
    names: tuple[str, ...] | list[str] | None = None,
    logits: bool = False,
    classes: tuple[str, ...] = DEEPCSV_CLASSES,
) -> dict[str, dict[str, Any]]:
    """AUC, loose/medium/tight efficiencies and jet counts per discriminator, ready for ``json.dump``.

    Metrics are ``None`` (JSON null) for a discriminator whose signal or background group has no jets,
    e.g. BvsC on a sample without c jets, so one missing flavour does not abort a whole evaluation.
    """
    labels = np.asarray(labels)
    rocs = discriminator_rocs(probs, labels, weights=weights, names=names, logits=logits, classes=classes)
    counts = np.bincount(labels.ravel(), minlength=len(classes)) if labels.size else np.zeros(0, int)
    result: dict[str, dict[str, Any]] = {}
    for name, roc in rocs.items():
        disc = get_discriminator(name, classes)
        n_sig = int(sum(counts[i] for i in disc.signal if i < len(counts)))
        n_bkg = int(sum(counts[i] for i in disc.background if i < len(counts)))
        result[name] = {**roc_metrics(roc), "n_signal": n_sig, "n_background": n_bkg}
    return result
