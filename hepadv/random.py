"""Seeds and chunk-safe random streams.

A card has one ``seed``; every other seed (split, training, each evaluation attack) derives from it
with ``derive_seed`` unless the card sets it explicitly. Random distortions never own a generator:
the caller hands them a ``RandomStream`` whose numbers depend only on (seed, key, global row index),
so a chunked or parallel run draws exactly what a single pass draws, whichever worker runs a chunk.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from typing import Any

#: Rows per independently seeded block: large enough that seeding costs nothing, small enough that a
#: chunk which starts mid-block wastes little.
BLOCK_ROWS = 4096


def derive_seed(seed: int, *names: str | int) -> int:
    """A 63-bit seed for the sub-stream ``names`` of ``seed`` (stable across Python versions and runs)."""
    text = "/".join(str(part) for part in (seed, *names))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


@dataclass(frozen=True)
class RandomStream:
    """Random numbers for rows ``offset, offset + 1, ...`` of a sample, independent of how it is chunked.

    Draws come in blocks of ``BLOCK_ROWS`` rows, each from a generator seeded by (seed, key, block),
    so row i always receives the same numbers for the same per-row width. Immutable and picklable.
    """

    seed: int
    key: tuple[int | str, ...] = ()
    offset: int = 0

    def at(self, start: int) -> RandomStream:
        """The stream for rows beginning ``start`` rows after this stream's first row."""
        return replace(self, offset=self.offset + int(start))

    def child(self, *key: int | str) -> RandomStream:
        """An independent stream (another distortion, another file), starting at row 0."""
        return RandomStream(self.seed, (*self.key, *key), 0)

    def seed_for(self, *names: str | int) -> int:
        """A 63-bit seed for ``names`` within this stream (for code that needs its own torch.Generator)."""
        return derive_seed(self.seed, *self.key, "offset", self.offset, *names)

    def normal(self, shape: tuple[int, ...], device: Any = None, dtype: Any = None) -> Any:
        """Standard normal draws of ``shape`` (rows first) for this stream's rows."""
        return self._draw("normal", shape, device, dtype)

    def uniform(self, shape: tuple[int, ...], device: Any = None, dtype: Any = None) -> Any:
        """Uniform [0, 1) draws of ``shape`` (rows first) for this stream's rows."""
        return self._draw("uniform", shape, device, dtype)

    def _draw(self, kind: str, shape: tuple[int, ...], device: Any, dtype: Any) -> Any:
        import torch

        n = int(shape[0])
        width = math.prod(shape[1:]) if len(shape) > 1 else 1
        dtype = dtype or torch.float32
        if n == 0:
            return torch.empty(shape, dtype=dtype, device=device)
        first, last = self.offset // BLOCK_ROWS, (self.offset + n - 1) // BLOCK_ROWS
        blocks = []
        for block in range(first, last + 1):
            gen = torch.Generator().manual_seed(derive_seed(self.seed, *self.key, kind, width, block))
            draw = torch.randn if kind == "normal" else torch.rand
            blocks.append(draw((BLOCK_ROWS, width), generator=gen, dtype=torch.float32))
        start = self.offset - first * BLOCK_ROWS
        rows = torch.cat(blocks)[start : start + n]
        return rows.reshape(shape).to(device=device, dtype=dtype)
