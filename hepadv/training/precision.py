"""``training.precision: auto|fp32|bf16|fp16``: autocast for the training step and the attack's input gradient.

auto is bf16 on a GPU that supports it (same exponent range as fp32: no loss scaling), fp16 with a
``GradScaler`` on an older GPU, and fp32 on CPU (CPU autocast is slower than fp32 for this MLP, and the
CPU is the reference for bitwise reproducibility). Losses and metrics stay fp32 whatever the choice.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from hepadv.errors import HepadvError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(requested: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``requested`` on ``device``; None means plain fp32."""
    if requested not in PRECISIONS:
        raise HepadvError(f"training.precision {requested!r}: expected one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return _DTYPES[requested]
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(device: torch.device, dtype: torch.dtype | None, cache: bool = True) -> AbstractContextManager[Any]:
    """Autocast to ``dtype`` on ``device``; a no-op for fp32. ``cache`` False: no cache of the weights'
    low-precision copies, as a step captured in a CUDA graph needs (``torch.cuda.graphs``)."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype, cache_enabled=cache)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> Any:
    """A ``GradScaler`` for fp16 (whose small gradients would underflow), None otherwise.

    With the fused Adam of a GPU (``training.step.make_optimizer``) the overflow flag stays on the device and
    the step needs no host synchronisation; with another optimiser ``step`` reads it back once per batch.
    Its bookkeeping is Python, so an fp16 step is never replayed from a CUDA graph; bf16 needs no scaler.
    """
    if dtype is not torch.float16:
        return None
    return torch.amp.GradScaler(device.type)
