"""Adversarial detector (seed 004 sec. 7-8, fig. 13): an MLP telling clean (1) from adversarial (0) inputs.

It is trained on clean events and on the adversaries that fool the base model, made on the train
(fit) and validation (early stopping) splits; the test split measures it. An adversary the detector
catches (score below the threshold) no longer counts as fooling: the corrected fooling ratio.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from hepadv.components import ComponentParams
from hepadv.defences.base import FilterDefence
from hepadv.progress import Progress


def fooling_ratios(fooled: np.ndarray, caught: np.ndarray) -> tuple[float, float]:
    """(initial, corrected) fooling ratio over the attacked events.

    initial = mean(fooled); corrected = mean(fooled and not caught): a caught adversary is removed
    from the fooling count, the denominator (attacked events) stays, so corrected <= initial.
    """
    fooled = np.asarray(fooled, dtype=bool)
    caught = np.asarray(caught, dtype=bool)
    if fooled.shape != caught.shape:
        raise ValueError(f"fooled {fooled.shape} and caught {caught.shape} must have the same shape")
    if fooled.size == 0:
        return math.nan, math.nan
    return float(fooled.mean()), float((fooled & ~caught).mean())


def efficiency_curve(scores: np.ndarray, thresholds: np.ndarray, clean: bool) -> np.ndarray:
    """Detector efficiency per threshold: clean events with score >= t (clean) or adversaries below t."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return np.full(len(thresholds), np.nan)
    passed = (scores[None, :] >= np.asarray(thresholds)[:, None]).mean(axis=1)
    return passed if clean else 1.0 - passed


class DetectorNet(nn.Module):
    """Dense layers with ReLU (and BatchNorm, as in seed 004 tables 20/22), one logit for "clean"."""

    def __init__(self, n_features: int, hidden: list[int], batch_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class AdversarialDetector(FilterDefence):
    """MLP detector; the paper's is 300-102-12-6 with BatchNorm (tables 20, 22), trained with Adam on BCE.

    By default clean and adversarial events count as they come (``balance: none``), as in the paper, whose
    sec. 10 discusses the class imbalance this leaves (fooling adversaries are often the minority);
    ``balance: equal`` weights both classes to equal total weight instead.
    """

    name: ClassVar[str] = "detector"

    class Params(ComponentParams):
        hidden: list[int] = Field(default_factory=lambda: [300, 102, 12, 6], min_length=1,
                                  description="hidden layer widths (paper: 300, 102, 12, 6)")
        batch_norm: bool = True
        epochs: int = Field(30, ge=1)
        batch_size: int = Field(1024, ge=1)
        lr: float = Field(1e-3, gt=0)
        patience: int | None = Field(5, ge=1, description="epochs without a better validation loss before stopping")
        threshold: float = Field(0.5, gt=0, lt=1, description="score >= threshold: clean (let through)")
        balance: Literal["none", "equal"] = Field(
            "none", description="none: events as they come (paper); equal: both classes weighted to equal total weight")

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.net: DetectorNet | None = None

    def _build(self, n_features: int) -> DetectorNet:
        return DetectorNet(n_features, list(self.params.hidden), self.params.batch_norm)

    def fit(self, clean: torch.Tensor, adversarial: torch.Tensor, clean_val: torch.Tensor,
            adversarial_val: torch.Tensor, seed: int, progress: Progress | None = None) -> dict[str, Any]:
        p = self.params
        torch.manual_seed(seed)
        net = self._build(clean.shape[1])
        x, y, w = _labelled(clean, adversarial, p.balance == "equal")
        xv, yv, wv = _labelled(clean_val, adversarial_val, p.balance == "equal")
        opt = torch.optim.Adam(net.parameters(), lr=p.lr)
        gen = torch.Generator().manual_seed(seed)
        best, best_state, bad, history = math.inf, None, 0, {"train_loss": [], "val_loss": []}
        for _epoch in range(p.epochs):
            net.train()
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for i in range(0, len(x), p.batch_size):
                idx = order[i : i + p.batch_size]
                if len(idx) < 2 and p.batch_norm:
                    continue  # BatchNorm cannot normalise a batch of one
                opt.zero_grad(set_to_none=True)
                loss = _bce(net(x[idx]), y[idx], w[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * float(w[idx].sum())
            net.eval()
            with torch.no_grad():
                val = float(_bce(net(xv), yv, wv)) if len(xv) else total / float(w.sum())
            history["train_loss"].append(total / float(w.sum()))
            history["val_loss"].append(val)
            if val < best:
                best, bad = val, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if p.patience is not None and bad >= p.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        self.net = net.eval()
        return history

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is None:
            raise RuntimeError("detector is not trained; call fit or load_state_dict first")
        self.net.eval()
        bs = 65536
        out = [torch.sigmoid(self.net(x[i : i + bs])) for i in range(0, len(x), bs)]
        return torch.cat(out) if out else torch.zeros(0)

    def state_dict(self) -> dict[str, Any]:
        if self.net is None:
            raise RuntimeError("detector is not trained")
        return dict(self.net.state_dict())

    def load_state_dict(self, state: dict[str, Any], n_features: int) -> None:
        net = self._build(n_features)
        net.load_state_dict(state)
        self.net = net.eval()


def _labelled(clean: torch.Tensor, adversarial: torch.Tensor,
              equal: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stacked inputs, labels (clean 1, adversarial 0) and weights: 1 each, or equal total weight per class."""
    x = torch.cat([clean, adversarial]).float()
    y = torch.cat([torch.ones(len(clean)), torch.zeros(len(adversarial))])
    if not equal:
        return x, y, torch.ones(len(x))
    w = torch.cat([torch.full((len(clean),), 0.5 / max(len(clean), 1)),
                   torch.full((len(adversarial),), 0.5 / max(len(adversarial), 1))]) * len(x)
    return x, y, w


def _bce(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none") * w).sum() / w.sum()
