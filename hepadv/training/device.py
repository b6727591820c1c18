"""``--device auto|cpu|cuda``."""

from __future__ import annotations

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
