"""Control and signal regions from the best single-feature cut (seed 004 sec. 5).

The paper finds, by exhaustive search over all inputs, the one feature and threshold whose cut separates
signal from background with the highest accuracy; events on the background side form the control region,
where an analysis validates distributions and correlations, the rest the signal region.

A validator applies the cut to whatever sample it is handed, so after an attack the regions are those of
the attacked values. CONSERVAttack keeps them equal to the clean ones by never letting a change cross the
cut (``signal_side`` on the candidate values); ``hepadv attack`` re-applies the cut to the attacked set
before it reports the control region's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Cut:
    """Signal side: ``x[:, feature] > threshold`` if ``signal_above`` else ``<= threshold`` (scaled units)."""

    feature: int
    name: str
    threshold: float
    signal_above: bool
    accuracy: float

    def signal_side(self, values: torch.Tensor) -> torch.Tensor:
        """Which values of the cut feature (any shape) lie on the signal side."""
        above = values.to(torch.float64) > self.threshold
        return above if self.signal_above else ~above

    def signal_region(self, x: torch.Tensor) -> torch.Tensor:
        return self.signal_side(x[:, self.feature])

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.name, "threshold_scaled": self.threshold,
                "signal_side": ">" if self.signal_above else "<=", "accuracy": self.accuracy}


def best_single_cut(x: torch.Tensor, signal: torch.Tensor, names: tuple[str, ...]) -> Cut:
    """Exhaustive search: every feature, every cut between two distinct values, both orientations.

    One sort per column and cumulative sums, O(n d log n): accuracy(k) of "the k + 1 smallest values are
    background" is (background below + signal above) / n; the reversed orientation has 1 - that.
    """
    n, d = x.shape
    if n < 2:
        raise ValueError("a cut search needs at least two events")
    xs, order = torch.sort(x.to(torch.float64), dim=0)
    sig = signal.to(torch.float64)[order]
    cum_sig = torch.cumsum(sig, dim=0)[:-1]  # signal among the k + 1 smallest, k = 0..n-2
    k1 = torch.arange(1, n, dtype=torch.float64, device=x.device)[:, None]
    acc_up = ((k1 - cum_sig) + (sig.sum(dim=0) - cum_sig)) / n  # signal above the cut
    distinct = xs[1:] > xs[:-1]
    acc = torch.maximum(acc_up, 1 - acc_up)
    acc = torch.where(distinct, acc, torch.full_like(acc, -1.0))
    best = int(torch.argmax(acc))
    k, j = divmod(best, d)
    if float(acc[k, j]) < 0:
        raise ValueError("every feature is constant: no cut separates the events")
    threshold = float((xs[k, j] + xs[k + 1, j]) / 2)
    return Cut(j, names[j], threshold, bool(acc_up[k, j] >= 1 - acc_up[k, j]), float(acc[k, j]))
