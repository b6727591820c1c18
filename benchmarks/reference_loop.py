"""The plain PyTorch training loop a user would write by hand: the yardstick of benchmarks/training_throughput.py.

Where it comes from: the hand-written reference loop of issue 23 (``gpu_reference.py`` in the project's shared
bench folder, run on an H200 on 2026-12-04 next to this benchmark). The same approach, kept here so the
benchmark runs it in the same process on the same data: 67 -> 5 x (100, ReLU, dropout 0.1) -> 4 (the
default DeepCSV), focal loss (gamma 25, written as a user would: softmax, gather, (1 - p)^gamma), Adam(lr
1e-4, fused), the whole training set resident on the device, one permutation drawn on the device per epoch
and a gather per batch, autocast to the benchmark's precision (bf16 on a GPU, none on CPU); a nominal step
and an FGSM step (epsilon 0.01 on the focal loss's input gradient, no masks, no cap, model left in training
mode), eager or ``torch.compile``d as a whole. What differs from the original: it takes the benchmark's
data, device and precision instead of drawing random inputs on a GPU, and it times nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def build(n_features: int, n_classes: int, device: torch.device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The model and its optimiser, as the reference builds them (the caller seeds torch first)."""
    layers: list[torch.nn.Module] = []
    prev = n_features
    for _ in range(5):
        layers += [torch.nn.Linear(prev, 100), torch.nn.ReLU(), torch.nn.Dropout(0.1)]
        prev = 100
    model = torch.nn.Sequential(*layers, torch.nn.Linear(prev, n_classes)).to(device).train()
    return model, torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)


def make_step(model: torch.nn.Module, opt: torch.optim.Optimizer, adversarial: bool, device: torch.device,
              precision: torch.dtype | None, compile: bool = False) -> Step:
    """One training step (FGSM first when ``adversarial``); compiled whole with ``compile``."""

    def amp() -> AbstractContextManager[Any]:
        return torch.autocast(device.type, dtype=precision) if precision is not None else nullcontext()

    def loss_fn(xb: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
        with amp():
            logits = model(xb)
        p = logits.float().softmax(1)
        pt = p.gather(1, yb[:, None]).squeeze(1)
        return ((1 - pt) ** 25 * -torch.log(pt.clamp_min(1e-12)) * wb).sum() / wb.sum()

    def step(xb: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
        if adversarial:
            xa = xb.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(loss_fn(xa, yb, wb), xa)
            xb = (xb + 0.01 * g.sign()).detach()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(xb, yb, wb)
        loss.backward()
        opt.step()
        return loss

    return torch.compile(step) if compile else step


def epoch(step: Step, tensors: tuple[torch.Tensor, ...], batch_size: int, limit: int | None = None) -> int:
    """One epoch: a permutation on the data's device, then a gather per full batch; returns the jets seen."""
    x, y, w = tensors
    n = len(x)
    perm = torch.randperm(n, device=x.device)
    seen = 0
    for k, i in enumerate(range(0, n - batch_size + 1, batch_size)):
        if limit is not None and k >= limit:
            break
        idx = perm[i : i + batch_size]
        step(x[idx], y[idx], w[idx])
        seen += batch_size
    return seen
