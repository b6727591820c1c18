"""``--device auto|cpu|cuda`` and the number of torch CPU threads (the card's ``threads``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from hepadv.errors import HepadvError


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise HepadvError("device 'cuda' requested but torch sees no CUDA GPU (installed build: "
                          f"torch {torch.__version__}); use --device cpu or auto")
    if requested not in ("cpu", "cuda"):
        raise HepadvError(f"device {requested!r}: expected auto, cpu or cuda")
    return torch.device(requested)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (None: leave torch's setting), restoring it after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
