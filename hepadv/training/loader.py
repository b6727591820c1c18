"""Slicing loader over in-memory tensors (thesis: 10 min per epoch instead of 48 h with a per-item DataLoader).

One gather per epoch shuffles all tensors at once; batches are then contiguous views.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class SlicingLoader:
    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int, shuffle: bool = True,
                 generator: torch.Generator | None = None) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.n = len(tensors[0])

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        tensors = self.tensors
        if self.shuffle:
            perm = torch.randperm(self.n, generator=self.generator).to(tensors[0].device)
            tensors = tuple(t[perm] for t in tensors)
        for start in range(0, self.n, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in tensors)
