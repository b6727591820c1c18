"""How visible an attack is: figures of merit of an attacked set, from scratch on the final clean and adversarial sets.

Generic to every attack (``hepadv attack`` reports them for FGSM and CONSERVAttack alike).

Self-contained numpy (no incremental bookkeeping, no torch), so the attack's own running statistics can be
checked against them: fooling ratio overall, per true class and per region; per-feature and mean
Jensen-Shannon distance of clean vs adversarial histograms (bins over the clean set's range, numpy's edges,
plus under/overflow bins so a per-event attack that leaves the range is not hidden); dFN of the Pearson
matrices over the non-constant features; AUC raw vs attacked per discriminator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepadv.evaluation.discriminators import Discriminator, discriminator, is_signal, jets_for
from hepadv.evaluation.divergences import js_distance
from hepadv.evaluation.fooling import FooledCriterion
from hepadv.evaluation.roc import auc, roc_curve


def histogram_pair(clean: np.ndarray, adv: np.ndarray, num_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(edges, clean counts, adversarial counts) with an underflow and an overflow bin at either end.

    Inside the range the bins are numpy's (the last one closed, so the clean maximum is in it).
    """
    edges = np.histogram_bin_edges(clean, bins=num_bins)

    def counts(v: np.ndarray) -> np.ndarray:
        return np.concatenate(([(v < edges[0]).sum()], np.histogram(v, edges)[0], [(v > edges[-1]).sum()]))

    return edges, counts(clean), counts(adv)


def correlation_change(clean: np.ndarray, adv: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(dFN, C_clean, C_adv, constant mask); constant features of the clean set are left out of dFN."""
    clean, adv = np.asarray(clean, np.float64), np.asarray(adv, np.float64)
    constant = clean.std(axis=0) == 0
    keep = ~constant
    c_clean = np.full((clean.shape[1],) * 2, np.nan)
    c_adv = np.full_like(c_clean, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        c_clean[np.ix_(keep, keep)] = np.corrcoef(clean[:, keep].T)
        c_adv[np.ix_(keep, keep)] = np.corrcoef(adv[:, keep].T)
    a, b = c_clean[np.ix_(keep, keep)], c_adv[np.ix_(keep, keep)]
    return float(np.linalg.norm(b - a) / np.linalg.norm(a)), c_clean, c_adv, constant


def distance_correlation(x: np.ndarray) -> np.ndarray:
    """(d, d) distance correlation (V-statistic, Szekely 2007) of the columns of x (m, d); 0 where undefined."""
    x = np.asarray(x, np.float64)
    m, d = x.shape
    centred = np.empty((d, m * m))
    for j in range(d):  # one (m, m) matrix per feature; d is small, m at most a few thousand
        a = np.abs(x[:, j, None] - x[None, :, j])
        centred[j] = (a - a.mean(axis=0) - a.mean(axis=1)[:, None] + a.mean()).ravel()
    s = centred @ centred.T
    root = np.sqrt(np.clip(np.diag(s), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sqrt(np.clip(s / np.outer(root, root), 0, 1))
    return np.where(np.outer(root > 0, root > 0), r, 0.0)


def disco_change(clean: np.ndarray, adv: np.ndarray, groups: np.ndarray) -> float:
    """Mean over the use_disco groups of ||R_adv - R_clean||_F / ||R_clean||_F (off-diagonal, non-constant)."""
    keep = np.asarray(clean, np.float64).std(axis=0) > 0
    w = np.outer(keep, keep) & ~np.eye(len(keep), dtype=bool)
    out = []
    for g in np.unique(groups[groups >= 0]):
        rc, ra = distance_correlation(clean[groups == g]), distance_correlation(adv[groups == g])
        den = np.linalg.norm(rc[w])
        out.append(float(np.linalg.norm((ra - rc)[w]) / den) if den > 0 else 0.0)
    return float(np.mean(out))


def distribution_figures(clean: np.ndarray, adv: np.ndarray, names: tuple[str, ...], num_bins: int,
                         ) -> dict[str, Any]:
    """Per-feature and mean JSD and dFN of one set (clean vs adversarial, same events)."""
    jsd = {name: js_distance(*histogram_pair(clean[:, j], adv[:, j], num_bins)[1:]) for j, name in enumerate(names)}
    dfn, _, _, constant = correlation_change(clean, adv)
    return {"n_events": len(clean), "mean_jsd": float(np.mean(list(jsd.values()))), "dfn": dfn,
            "jsd_per_feature": jsd, "constant_features": [n for n, c in zip(names, constant, strict=True) if c]}


def _fr(fooled: np.ndarray) -> float | None:
    return float(fooled.mean()) if len(fooled) else None


def figures_of_merit(clean: np.ndarray, adv: np.ndarray, labels: np.ndarray, probs_clean: np.ndarray,
                     probs_adv: np.ndarray, names: tuple[str, ...], classes: tuple[str, ...],
                     discriminators: dict[str, Discriminator], criterion: FooledCriterion, num_bins: int,
                     control: np.ndarray | None = None, disco_groups: np.ndarray | None = None,
                     ) -> dict[str, Any]:
    """Everything ``metrics.json`` reports about one attacked set (scaled inputs, float32 or float64).

    With a ``control`` mask (control-region variant) the top-level JSD and dFN are the control region's,
    the one region where the paper validates them; ``regions`` has control, signal and all.
    """
    clean = np.asarray(clean, np.float64)
    adv = np.asarray(adv, np.float64)
    fooled = criterion.fooled(probs_clean, probs_adv)
    out: dict[str, Any] = {
        "n_events": len(clean),
        "fooled_definition": criterion.describe(),
        "fooling_ratio": _fr(fooled),
        "fooling_ratio_per_class": {c: _fr(fooled[labels == i]) for i, c in enumerate(classes)},
        "n_events_changed": int((adv != clean).any(axis=1).sum()),
    }
    region = np.ones(len(clean), bool) if control is None else np.asarray(control, bool)
    out.update(distribution_figures(clean[region], adv[region], names, num_bins))
    if disco_groups is not None:
        out["dfn_disco"] = disco_change(clean, adv, np.asarray(disco_groups))
    if control is not None:
        out["regions"] = {}
        for key, mask in (("control", region), ("signal", ~region), ("all", np.ones_like(region))):
            entry: dict[str, Any] = {"n_events": int(mask.sum()), "fooling_ratio": _fr(fooled[mask])}
            if mask.sum() >= 2:
                figs = distribution_figures(clean[mask], adv[mask], names, num_bins)
                entry.update(mean_jsd=figs["mean_jsd"], dfn=figs["dfn"])
            out["regions"][key] = entry
    out["auc"] = {}
    for name, disc in discriminators.items():
        sel = jets_for(labels, disc)
        sig = is_signal(labels[sel], disc)
        try:
            raw = auc(roc_curve(discriminator(probs_clean[sel], disc), sig))
            attacked = auc(roc_curve(discriminator(probs_adv[sel], disc), sig))
        except ValueError:  # one group absent from this set
            out["auc"][name] = {"raw": None, "attacked": None, "delta": None}
            continue
        out["auc"][name] = {"raw": raw, "attacked": attacked, "delta": attacked - raw}
    return out
