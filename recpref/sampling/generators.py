"""Seeded generators: one reproducible, distinct random stream per (seed, rank)."""

from __future__ import annotations

import torch

__all__ = ["make_generator", "stream_seed"]

_MASK = (1 << 64) - 1


def stream_seed(seed: int, rank: int = 0, epoch: int = 0) -> int:
    """Mix (seed, rank, epoch) into a 63-bit seed with splitmix64, so distributed ranks and
    epochs draw different streams while the same triple always gives the same stream."""
    x = (seed & _MASK) ^ ((rank + 1) * 0x9E3779B97F4A7C15 & _MASK) ^ ((epoch + 1) * 0xBF58476D1CE4E5B9 & _MASK)
    for _ in range(2):
        x = (x + 0x9E3779B97F4A7C15) & _MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
        x ^= x >> 31
    return x >> 1


def make_generator(seed: int, rank: int = 0, epoch: int = 0, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`stream_seed`. Pass the
    distributed rank (Lightning: ``trainer.global_rank``) so each rank samples differently."""
    gen = torch.Generator(device=device)
    gen.manual_seed(stream_seed(seed, rank, epoch))
    return gen
