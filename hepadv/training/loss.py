"""Weighted focal loss (paper eq. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, gamma: float = 25.0,
               ) -> torch.Tensor:
    """(1 / sum w_i) sum_i w_i * -(1 - p_i)^gamma * log p_i, with p_i the probability of the true class.

    With one-hot truth the sum over classes keeps only the true class. 1 - p is computed as
    -expm1(log p) so that confident jets do not lose precision. gamma = 0 is weighted cross entropy.
    """
    log_p = F.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    focus = (-torch.expm1(log_p)).clamp_min(0).pow(gamma) if gamma else torch.ones_like(log_p)
    return (weights * focus * -log_p).sum() / weights.sum()
