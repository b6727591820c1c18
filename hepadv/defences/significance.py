"""Are clean events flagged by the detector again and again more often than chance allows? (seed 004 eqs. 6-11)

Each of R independently trained detectors flags some clean events as adversarial. Under the null
hypothesis every event is flagged independently in each run with the pooled probability p = 1 - mean(acc_i),
so the number of runs that flag one event is Binomial(R, p), and N events give E_k = N P(K = k) events
flagged exactly k times. An excess of observed O_k over E_k, judged by the Poisson upper tail
P(X >= O_k | X ~ Poisson(E_k)), means some clean events systematically look adversarial to the detector.

Only the repeated-misclassification tail counts: bins k >= ``min_repeats`` (default 2, "misclassified
repeatedly", as the paper's fig. 15 reads it). An excess at k = 0 (events no detector flags, e.g. a group
of clean events every detector finds easy) or at k = 1 is not repeated misclassification and is never
flagged; its p-value is still reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepadv.errors import HepadvError


@dataclass(frozen=True)
class SignificanceResult:
    """Per k = 0..R: observed and expected events flagged in exactly k runs, Poisson upper-tail p-values."""

    runs: int
    n_events: int
    p: float
    k: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    p_values: np.ndarray
    alpha: float
    min_repeats: int = 2

    @property
    def significant(self) -> np.ndarray:
        """Bins of the repeated tail (k >= ``min_repeats``) with p-value below ``alpha`` and more events than
        expected (an excess, never a deficit)."""
        return (self.k >= self.min_repeats) & (self.p_values < self.alpha) & (self.observed > self.expected)

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "n_events": self.n_events, "p": self.p, "alpha": self.alpha,
                "min_repeats": self.min_repeats,
                "k": self.k.tolist(), "observed": self.observed.tolist(), "expected": self.expected.tolist(),
                "p_values": self.p_values.tolist(), "significant": self.significant.tolist()}


def per_run_accuracy(flags: np.ndarray) -> np.ndarray:
    """acc_i = (N_correct - N_flagged) / N_correct per run (eq. 6); ``flags`` (R, N) over the N correct events."""
    flags = np.asarray(flags, dtype=bool)
    return 1.0 - flags.mean(axis=1)


def repeated_misclassification(flags: np.ndarray, alpha: float = 0.05, min_repeats: int = 2) -> SignificanceResult:
    """The test on ``flags`` (R, N): run i's detector flags clean event n as adversarial.

    The N events should be the ones every base model classifies correctly (eq. 6's N_correct), so each
    run judges the same events. p is the pooled rate of eq. 8; E_k, O_k and p-values follow eqs. 9-11;
    only bins k >= ``min_repeats`` can be significant (module docstring).
    """
    flags = np.asarray(flags, dtype=bool)
    if flags.ndim != 2 or flags.shape[0] < 2:
        raise HepadvError(f"repeated-misclassification test needs flags of shape (R >= 2 runs, N events), "
                          f"got {flags.shape}")
    if flags.shape[1] == 0:
        raise HepadvError("repeated-misclassification test: no clean events to count")
    p = float(1.0 - per_run_accuracy(flags).mean())
    return significance_from_counts(flags.sum(axis=0), flags.shape[0], p, alpha, min_repeats)


def significance_from_counts(counts: np.ndarray, runs: int, p: float, alpha: float = 0.05,
                             min_repeats: int = 2) -> SignificanceResult:
    """Eqs. 9-11 from ``counts`` (N,): in how many of ``runs`` runs each event was flagged; ``p`` the pooled rate."""
    from scipy import stats

    if not 1 <= min_repeats <= runs:
        raise HepadvError(f"min_repeats must lie in [1, {runs}] (the repeated tail of {runs} runs), got {min_repeats}")
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size and (counts.min() < 0 or counts.max() > runs):
        raise HepadvError(f"flag counts must lie in [0, {runs}], got [{counts.min()}, {counts.max()}]")
    if not 0.0 <= p <= 1.0:
        raise HepadvError(f"pooled misclassification rate p must lie in [0, 1], got {p}")
    k = np.arange(runs + 1)
    observed = np.bincount(counts, minlength=runs + 1)
    expected = counts.size * stats.binom.pmf(k, runs, p)
    # P(X >= O) = sf(O - 1); an empty bin is never an excess (p-value 1).
    p_values = np.where(observed > 0, stats.poisson.sf(observed - 1, expected), 1.0)
    return SignificanceResult(runs, int(counts.size), p, k, observed, expected, p_values, alpha, min_repeats)


def plot_significance(result: SignificanceResult, path: Path, label: str = "Simulation") -> Path:
    """Fig. 15: expected (grey) vs observed (red) events per k on a log scale, stars on significant excesses."""
    from hepadv.plotting.style import add_label, new_figure, savefig, style_context

    with style_context():
        fig, ax = new_figure()
        width = 0.4
        ax.bar(result.k - width / 2, result.expected, width, color="0.6", label="expected (binomial)")
        ax.bar(result.k + width / 2, result.observed, width, color="#e42536", label="observed")
        sig = result.significant
        if sig.any():
            top = np.maximum(result.observed, result.expected)[sig]
            ax.scatter(result.k[sig] + width / 2, top * 2.0, marker="*", s=150, color="#e42536",
                       label=f"p < {result.alpha:g}")
        ax.set_yscale("log")
        ax.set_xlabel(f"runs flagging the event (of {result.runs})")
        ax.set_ylabel("clean events")
        ax.set_xticks(result.k)
        ax.axvspan(result.min_repeats - 0.5, result.runs + 0.5, color="0.93", zorder=0,
                   label=f"repeated (k >= {result.min_repeats}): tested")
        ax.legend(title=f"pooled p = {result.p:.3f}")
        add_label(ax, label)
        return savefig(fig, path)
