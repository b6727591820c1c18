"""One optimisation step of the training loop, as fast as the device allows.

``TrainStep`` runs the strategy's batch loss (nominal, or attack + loss for adversarial training) under
autocast (``training.precision``), optionally through ``torch.compile`` (``training.compile``), then the
backward pass and the optimiser, and returns the loss as a device tensor: nothing in a step reads a value
back to the host, so a GPU never waits for Python inside an epoch.

On a GPU the step is bound by the host, not by the device: at batch 65,536 the DeepCSV step is a few
hundred small kernels moving about a gigabyte, well under a millisecond of an H200's memory bandwidth (an
estimate), while the hand-written eager loop took 4.5 ms a step there (issue 23: GEMM fraction 0.003),
most of it issuing kernels from Python. So on a GPU the optimiser is fused Adam (one kernel
for every parameter, ``make_optimizer``) and the whole step (forward, attack, backward, optimiser) is
replayed as one CUDA graph (``GraphedStep``); on CPU nothing changes (same operations, bitwise).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch

from hepadv.data.masks import FeatureMasks
from hepadv.defences.base import LossFn, TrainingStrategy
from hepadv.training.precision import autocast, grad_scaler

log = logging.getLogger("hepadv.training")
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def optimizer_flags(device: torch.device) -> dict[str, Any]:
    """Adam's implementation flags for ``device``.

    GPU: ``fused`` (one kernel for all parameters instead of a dozen multi-tensor passes, no host sync
    under fp16's loss scaler either) and ``capturable`` (its step count lives on the device, so the step
    can be replayed in a CUDA graph; for the fused kernel this costs nothing). CPU: torch's defaults, the
    single-tensor loop every CPU run so far used, so CPU runs keep their weights bit for bit. (Fused Adam is
    faster on CPU too, 94 against 339 µs a step for the default DeepCSV on one thread, about 2 % of a
    batch-1024 step: not worth changing every CPU result for.)
    """
    if device.type == "cuda":
        return {"fused": True, "foreach": None, "capturable": True}
    return {"fused": None, "foreach": None, "capturable": False}


def make_optimizer(params: Iterable[torch.nn.Parameter], lr: float, device: torch.device) -> torch.optim.Adam:
    """The training optimiser (Adam) with the implementation ``optimizer_flags`` picks for ``device``."""
    return torch.optim.Adam(params, lr=lr, **optimizer_flags(device))


def set_optimizer_flags(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Re-apply ``optimizer_flags`` after ``load_state_dict``, which restores the flags the checkpoint was
    written with: a run started on CPU resumes fused on a GPU, and one started on a GPU resumes on CPU.

    Fused and capturable Adam keep each parameter's step count as an fp32 tensor beside the parameter;
    the single-tensor loop keeps it on the host. Counts are small integers, exact in fp32 either way.
    """
    flags = optimizer_flags(device)
    on_device = bool(flags["fused"] or flags["capturable"])
    for group in optimizer.param_groups:
        group.update(flags)
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            step = state.get("step")
            if isinstance(step, torch.Tensor):
                state["step"] = step.to(device=p.device if on_device else "cpu", dtype=torch.float32)


def graph_safe(strategy: TrainingStrategy) -> bool:
    """Whether ``strategy``'s batch loss may be replayed from a CUDA graph: kernels only, with no Python
    state that changes from batch to batch and no host synchronisation. Nominal training is; a defence
    says so with a ``graph_safe`` attribute (adversarial training with hepadv's own FGSM and PGD)."""
    return type(strategy) is TrainingStrategy or bool(getattr(strategy, "graph_safe", False))


class TrainStep:
    """forward (+ attack) under autocast -> backward -> optimiser step; ``__call__`` returns the fp32 loss.

    ``cuda_graph``: replay the whole step as a CUDA graph (``GraphedStep``). None (default) means yes on a
    GPU when nothing forbids it: no fp16 loss scaler (whose bookkeeping is Python), a ``graph_safe``
    strategy, a ``capturable`` optimiser. A step that cannot be captured runs eagerly, with one warning.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, strategy: TrainingStrategy,
                 loss_fn: LossFn, masks: FeatureMasks, device: torch.device, precision: torch.dtype | None = None,
                 compile: bool = False, cuda_graph: bool | None = None) -> None:
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.device = device
        self.precision = precision
        self.compiled = compile
        self.scaler = grad_scaler(device, precision)
        # compiled: the model (its training forward/backward, and the attack's eval forward and input
        # gradient, a second graph), the loss (log-softmax, focal weight and weighted sum: one kernel each
        # way) and the masks' step (a dozen elementwise passes fused into one kernel)
        self.forward_model: torch.nn.Module = torch.compile(model) if compile else model
        self.loss_fn: LossFn = torch.compile(loss_fn, dynamic=False) if compile else loss_fn
        self.masks = CompiledMasks(masks) if compile else masks
        capturable = all(g.get("capturable", False) for g in optimizer.param_groups)
        if cuda_graph is None:
            cuda_graph = device.type == "cuda" and self.scaler is None and graph_safe(strategy) and capturable
        elif cuda_graph and (self.scaler is not None or not capturable):
            raise ValueError("cuda_graph needs bf16 or fp32 (fp16's loss scaler is not capturable) and an "
                             "optimiser made with capturable=True (make_optimizer on a GPU)")
        # autocast's weight cache must stay off inside a captured graph (torch.cuda.graphs)
        self._autocast_cache = not cuda_graph
        self.graph = GraphedStep(self._eager, optimizer, device) if cuda_graph else None

    def loss(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The strategy's batch loss under autocast (fp32: the loss function casts the logits)."""
        with autocast(self.device, self.precision, cache=self._autocast_cache):
            return self.strategy.batch_loss(self.forward_model, x, y, w, self.loss_fn, self.masks)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.graph is not None:
            return self.graph(x, y, w)
        return self._eager(x, y, w)

    def _eager(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The step as Python runs it; captured whole by ``GraphedStep``."""
        self.optimizer.zero_grad(set_to_none=True)  # in a capture: the backward writes fresh gradient buffers
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


class GraphBackend:
    """How ``GraphedStep`` captures and replays; CUDA here, a stand-in in the CPU tests."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.side: torch.cuda.Stream | None = None

    @contextmanager
    def side_stream(self) -> Iterator[None]:
        """Warm-up steps run on a side stream before the first capture (torch's CUDA-graph recipe)."""
        current = torch.cuda.current_stream(self.device)
        if self.side is None:
            self.side = torch.cuda.Stream(self.device)
        self.side.wait_stream(current)
        with torch.cuda.device(self.device), torch.cuda.stream(self.side):
            yield
        current.wait_stream(self.side)

    def capture(self, body: Callable[[], torch.Tensor]) -> tuple[Callable[[], None], torch.Tensor]:
        """Record ``body`` (nothing runs) -> (replay, its output tensor, rewritten by every replay)."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.device(self.device), torch.cuda.graph(graph):
            out = body()
        return graph.replay, out


class GraphedStep:
    """The whole training step replayed as one CUDA graph: a handful of launches per batch, not hundreds.

    Per key (batch shapes, learning rates): the first ``warmup`` batches train eagerly (on a side stream
    before the first capture), the next one is captured and replayed, later ones are replayed with their
    inputs copied into the graph's static buffers. A new learning rate (the schedule, once per epoch)
    means a new key: the graphs of old rates are dropped and the new one is captured after ``warmup``
    eager steps, so every batch trains with the rate the eager loop would use. The epoch's shorter last
    batch never reaches ``warmup`` under a schedule, and trains eagerly.

    What replay keeps: every kernel of the eager step in the same order with the same parameters,
    optimiser state and gradient buffers; dropout draws fresh random numbers at each replay (torch
    registers the generator with the graph). What it skips: Python. The step therefore needs a
    ``graph_safe`` strategy. A capture that fails (a host sync, an unsupported operation) leaves the
    step eager for the rest of the run, with one warning naming the reason.
    """

    def __init__(self, step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                 optimizer: torch.optim.Optimizer, device: torch.device, warmup: int = 3,
                 backend: Any = None) -> None:
        self.eager = step  # the whole eager step, gradients cleared first: what is captured
        self.optimizer = optimizer
        self.warmup = warmup
        self.backend = backend if backend is not None else GraphBackend(device)
        self.graphs: dict[tuple[Any, ...], tuple[Callable[[], None], Batch, torch.Tensor]] = {}
        self.seen: dict[tuple[Any, ...], int] = {}
        self.rates: tuple[float, ...] = ()
        self.failed: str | None = None
        self.captures = 0  # how many graphs were recorded (tests and logs)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.failed is not None:
            return self.eager(x, y, w)
        rates = tuple(float(g["lr"]) for g in self.optimizer.param_groups)
        if rates != self.rates:  # a new learning rate: graphs of the old one are stale, free their memory
            self.rates = rates
            self.graphs.clear()
            self.seen.clear()
        key = tuple((tuple(t.shape), t.dtype) for t in (x, y, w)) + rates
        entry = self.graphs.get(key)
        if entry is None:
            self.seen[key] = count = self.seen.get(key, 0) + 1
            if count <= self.warmup:
                with self.backend.side_stream() if self.captures == 0 else nullcontext():
                    return self.eager(x, y, w)
            entry = self._capture(key, x, y, w)
            if entry is None:
                return self.eager(x, y, w)
        replay, static, out = entry
        for buffer, t in zip(static, (x, y, w), strict=True):
            buffer.copy_(t)
        replay()
        return out.clone()  # the graph rewrites ``out`` at the next replay

    def _capture(self, key: tuple[Any, ...], x: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
                 ) -> tuple[Callable[[], None], Batch, torch.Tensor] | None:
        static: Batch = (x.clone(), y.clone(), w.clone())
        try:
            replay, out = self.backend.capture(lambda: self.eager(*static))
        except Exception as exc:  # any capture failure: train on, eagerly, and say why once
            self.failed = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            log.warning("training step not captured as a CUDA graph (%s); training eagerly", self.failed)
            self.graphs.clear()
            return None
        self.captures += 1
        self.graphs[key] = (replay, static, out)
        return self.graphs[key]


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
