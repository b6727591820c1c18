"""Discriminators of a task: ratios of summed class probabilities, fixed by the model's output classes.

The 4-class DeepCSV task (b, bb, c, udsg) has BvsL, BvsC, CvsB, CvsL; a binary task has one
discriminator (class 1 vs class 0); any other task one "<class>vsRest" per class (``discriminators_for``).
Each discriminator compares two groups of classes, e.g. BvsL = (b + bb) / (b + bb + udsg). Only jets of those
two groups enter its ROC curve (``jets_for``). Two stable forms are offered: from probabilities (guarded
against a zero denominator) and from logits (a sigmoid of a logsumexp difference), which stays exact when
softmax probabilities underflow to zero.
"""

from __future__ import annotations

import numpy as np

from hepadv.data.classes import DEEPCSV_CLASSES, DISCRIMINATORS, Discriminator, discriminators_for
from hepadv.errors import HepadvError

__all__ = ["DISCRIMINATORS", "UNDEFINED_VALUE", "Discriminator", "discriminator", "discriminator_from_logits",
           "discriminators_for", "get_discriminator", "is_signal", "jets_for"]

#: Value returned where a discriminator is undefined (both class groups have zero probability):
#: 0.5 says "no preference", keeps the output inside [0, 1] and never produces NaN. Callers may pass
#: another value (e.g. -0.1 to mark such jets in a histogram); it is not clipped.
UNDEFINED_VALUE = 0.5


def get_discriminator(name: str | Discriminator, classes: tuple[str, ...] = DEEPCSV_CLASSES) -> Discriminator:
    """Look a discriminator of the task ``classes`` up by name; a user-facing error for unknown names."""
    if isinstance(name, Discriminator):
        return name
    known = discriminators_for(classes)
    try:
        return known[name]
    except KeyError:
        raise HepadvError(f"unknown discriminator {name!r} for classes {', '.join(classes)}; "
                          f"known: {', '.join(known)}") from None


def _check_outputs(values: np.ndarray, disc: Discriminator, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] <= max(disc.classes):
        raise ValueError(
            f"{what} must have shape (n_jets, n_classes) covering classes {disc.classes}, got {values.shape}"
        )
    return values


def discriminator(probs: np.ndarray, name: str | Discriminator, undefined: float = UNDEFINED_VALUE) -> np.ndarray:
    """Discriminator value per jet from class probabilities, in [0, 1].

    Computed as num / (num + den) in float64 so the ratio cannot exceed 1 by rounding; where both groups
    have zero probability (softmax underflow) the value is ``undefined`` instead of NaN. Slightly negative
    or >1 inputs (rounding in upstream code) are tolerated: the result is clipped.
    """
    disc = get_discriminator(name)
    probs = _check_outputs(probs, disc, "probs")
    num = probs[:, list(disc.signal)].sum(axis=1, dtype=np.float64)
    den = num + probs[:, list(disc.background)].sum(axis=1, dtype=np.float64)
    ok = den > 0
    out = np.zeros(len(probs), dtype=np.float64)
    np.divide(num, den, out=out, where=ok)
    return np.where(ok, np.clip(out, 0.0, 1.0), undefined)


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    """Row-wise logsumexp via ``logaddexp``: exact for +-inf entries (all -inf gives -inf) and cheap for
    the one- and two-column groups the discriminators use."""
    return np.logaddexp.reduce(logits, axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Sigmoid without overflow: exp is only ever taken of a non-positive number."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def discriminator_from_logits(
    logits: np.ndarray, name: str | Discriminator, undefined: float = UNDEFINED_VALUE
) -> np.ndarray:
    """Discriminator value per jet from pre-softmax logits, in [0, 1].

    sigmoid(logsumexp(signal logits) - logsumexp(background logits)) equals the probability form exactly
    (the softmax normalisation cancels) but keeps full precision when probabilities underflow, e.g. a light
    jet with P(b) ~ 1e-50. Rows where the difference is undefined (inf - inf, NaN) get ``undefined``.
    """
    disc = get_discriminator(name)
    logits = _check_outputs(logits, disc, "logits").astype(np.float64, copy=False)
    with np.errstate(invalid="ignore"):
        diff = _logsumexp(logits[:, list(disc.signal)]) - _logsumexp(logits[:, list(disc.background)])
    undefined_rows = np.isnan(diff)
    out = np.clip(_sigmoid(np.where(undefined_rows, 0.0, diff)), 0.0, 1.0)
    return np.where(undefined_rows, undefined, out)


def _in_classes(labels: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """``np.isin`` via a lookup table for integer labels: ~10x faster on 10^6 jets, and it runs per ROC."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu" and labels.size and labels.min() >= 0:
        table = np.zeros(max(int(labels.max()), *classes) + 1, dtype=bool)
        table[list(classes)] = True
        return table[labels]
    return np.isin(labels, classes)


def jets_for(labels: np.ndarray, name: str | Discriminator) -> np.ndarray:
    """Boolean mask of jets whose true class belongs to either group of the discriminator."""
    return _in_classes(labels, get_discriminator(name).classes)


def is_signal(labels: np.ndarray, name: str | Discriminator) -> np.ndarray:
    """Boolean mask of jets whose true class is in the signal group (meaningful on ``jets_for`` jets)."""
    return _in_classes(labels, get_discriminator(name).signal)
