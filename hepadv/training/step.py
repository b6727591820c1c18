"""One optimisation step of the training loop, as fast as the device allows.

``TrainStep`` runs the strategy's batch loss (nominal, or attack + loss for adversarial training) under
autocast (``training.precision``), optionally through ``torch.compile`` (``training.compile``), then the
backward pass and the optimiser, and returns the loss as a device tensor: nothing in a step reads a value
back to the host, so a GPU never waits for Python inside an epoch (fp16's loss scaler is the one exception).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import torch

from hepadv.data.masks import FeatureMasks
from hepadv.defences.base import LossFn, TrainingStrategy
from hepadv.training.precision import autocast, grad_scaler


class TrainStep:
    """forward (+ attack) under autocast -> backward -> optimiser step; ``__call__`` returns the fp32 loss."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, strategy: TrainingStrategy,
                 loss_fn: LossFn, masks: FeatureMasks, device: torch.device, precision: torch.dtype | None = None,
                 compile: bool = False) -> None:
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.loss_fn = loss_fn
        self.device = device
        self.precision = precision
        self.compiled = compile
        self.scaler = grad_scaler(device, precision)
        # compiled: the model (its training forward/backward, and the attack's eval forward and input
        # gradient, a second graph) and the masks' step (a dozen elementwise passes fused into one kernel)
        self.forward_model: torch.nn.Module = torch.compile(model) if compile else model
        self.masks = CompiledMasks(masks) if compile else masks

    def loss(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The strategy's batch loss under autocast (fp32: the loss function casts the logits)."""
        with autocast(self.device, self.precision):
            return self.strategy.batch_loss(self.forward_model, x, y, w, self.loss_fn, self.masks)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(x, y, w)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return loss.detach()

    def warm_up(self, batches: Iterable[tuple[torch.Tensor, ...]]) -> float:
        """Compile every graph an epoch will use (one per batch shape) before the epoch clock starts.

        Runs forward and backward on ``batches`` without an optimiser step; random states, gradients and
        buffers (batch-norm statistics) are restored, so a compiled run consumes the same random numbers
        whether or not it is resumed. Returns the seconds spent (compilation dominates); 0 when not compiled.
        """
        if not self.compiled:
            return 0.0
        t0 = time.perf_counter()
        buffers = [b.detach().clone() for b in self.model.buffers()]
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            for x, y, w in batches:
                self.loss(x, y, w).backward()
        with torch.no_grad():
            for b, saved in zip(self.model.buffers(), buffers, strict=True):
                b.copy_(saved)
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - t0


def warm_up_batches(tensors: tuple[torch.Tensor, ...], batch_size: int, device: torch.device,
                    ) -> list[tuple[torch.Tensor, ...]]:
    """One batch of each shape an epoch produces: a full one and the shorter last one, on ``device``."""
    n = len(tensors[0])
    sizes = {min(batch_size, n), n % batch_size or min(batch_size, n)}
    return [tuple(t[:size].to(device) for t in tensors) for size in sorted(sizes, reverse=True)]


class CompiledMasks(FeatureMasks):
    """``FeatureMasks`` whose step is one compiled kernel (the eager version works on cache-sized blocks)."""

    def __init__(self, masks: FeatureMasks) -> None:
        super().__init__(masks.integer, masks.scaled_defaults, masks.mean, masks.std, masks.names)
        self._fused = torch.compile(_step_formula, dynamic=False)

    def _step(self, x: torch.Tensor, direction: torch.Tensor, epsilon: float | torch.Tensor,
              relative_cap: float | None, add_to_x: bool) -> torch.Tensor:
        eps = epsilon.to(x.dtype).expand_as(x) if isinstance(epsilon, torch.Tensor) else torch.full_like(x, epsilon)
        return self._fused(x.detach(), direction.expand_as(x), eps, relative_cap, add_to_x, self.std, self.mean,
                           self.scaled_defaults, self.default_tolerance, self.integer)


def _step_formula(x: torch.Tensor, direction: torch.Tensor, eps: torch.Tensor, relative_cap: float | None,
                  add_to_x: bool, std: torch.Tensor, mean: torch.Tensor, defaults: torch.Tensor,
                  tolerance: torch.Tensor, integer: torch.Tensor) -> torch.Tensor:
    """The textbook eq. 4 step, written functionally for the compiler to fuse."""
    size = eps if relative_cap is None else torch.minimum(eps, relative_cap * (x * std + mean).abs() / std)
    frozen = ((x - defaults).abs() <= tolerance) | integer
    step = torch.where(frozen, torch.zeros_like(x), direction * size)
    return x + step if add_to_x else step


class LossDisplay:
    """The running loss for the progress bar, read without stalling a GPU.

    ``update`` starts a copy to pinned host memory; ``value`` returns the newest copy that has arrived.
    On CPU there is nothing to wait for, and the value is read directly.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.last = float("nan")
        self._host: Any = None
        self._event: Any = None
        if device.type == "cuda":
            self._host = torch.full((), float("nan"), dtype=torch.float32, pin_memory=True)
            self._event = torch.cuda.Event()

    def update(self, value: torch.Tensor) -> None:
        if self._host is None:
            self.last = float(value)
            return
        if self._event.query():  # the previous copy has landed: keep it, start the next one
            self.last = float(self._host)
            self._host.copy_(value.detach().float(), non_blocking=True)
            self._event.record()

    def value(self) -> float:
        return self.last
