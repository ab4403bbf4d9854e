"""Compiled CPU loop for exact negative sampling: per slot, propose (uniform or alias table),
look the (user, item) cell up in the membership table (one byte per cell, or a packed bitset),
and redraw until it is not a positive. The same distribution as the vectorised torch path
(rejection from the same proposal), drawn from a splitmix64 stream seeded from the caller's
``torch.Generator`` (integers by scaling 53 random bits: relative bias below n / 2^53); tested against the slow reference with the other samplers.

Every block of ``BLOCK`` users draws from its own stream (derived from the seed and the block
index), so blocks could run in any order or on any thread and give the same output. The loop
runs on the caller's thread, compiled without a numba threading layer: a call takes a fraction
of a millisecond, and an OpenMP team for it (numba's ``omp`` layer loads a second libgomp next
to torch's) spin-waits at its barrier whenever a worker is descheduled, and spins against
torch's own spinning workers after every switch between the two runtimes; on a 2-core machine
that cost the stream far more than the second core gained (docs/benchmarks.md, "Sampler
throughput").
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["BLOCK", "GAVE_UP", "sample_negatives"]

GAVE_UP = -1
BLOCK = 4096  # users per independently seeded block (the streams of the earlier parallel loop, kept)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True, inline="always")
def _next(state: np.ndarray) -> np.uint64:
    """splitmix64: a fast, well-mixed 64-bit stream (state is a 1-element uint64 array)."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _below(state: np.ndarray, n: int) -> int:
    """Uniform integer in [0, n): the top 53 bits as a double in [0, 1), times n (bias < n / 2^53)."""
    return int((_next(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0) * n)


@njit(cache=True, nogil=True, inline="always")
def _unit(state: np.ndarray) -> float:
    return (_next(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _fill(users: np.ndarray, n_neg: int, n_items: int, bytemap: np.ndarray, bits: np.ndarray,
          alias_prob: np.ndarray, alias: np.ndarray, seed: int, max_tries: int, out: np.ndarray) -> int:
    """Fill ``out`` (B, n_neg); returns how many slots gave up."""
    use_bytes = bytemap.size > 0
    uniform = alias.size == 0
    gave_up = 0
    state = np.empty(1, dtype=np.uint64)
    for blk in range((users.size + BLOCK - 1) // BLOCK):
        state[0] = np.uint64(seed) ^ (np.uint64(blk + 1) * _M2)
        _next(state)
        for b in range(blk * BLOCK, min(users.size, (blk + 1) * BLOCK)):
            base = users[b] * n_items
            for k in range(n_neg):
                item = GAVE_UP
                for _ in range(max_tries):
                    j = _below(state, n_items)
                    if not uniform and _unit(state) >= alias_prob[j]:
                        j = alias[j]
                    cell = base + j
                    hit = bytemap[cell] != 0 if use_bytes else (bits[cell >> 3] >> (cell & 7)) & 1
                    if not hit:
                        item = j
                        break
                if item == GAVE_UP:
                    gave_up += 1
                out[b, k] = item
    return gave_up


def sample_negatives(users: np.ndarray, n_neg: int, n_items: int, bytemap: np.ndarray, bits: np.ndarray,
                     alias_prob: np.ndarray, alias: np.ndarray, seed: int, max_tries: int) -> tuple[np.ndarray, int]:
    """users (B,) int64 -> ((B, n_neg) item indices, number of slots that gave up).

    Membership: ``bytemap`` (n_users * n_items,) uint8 when non-empty, else the packed
    ``bits`` (bit k & 7 of byte k >> 3 for cell k = user * n_items + item). Proposal: uniform
    when ``alias`` is empty, else Walker's alias table. A slot still positive after
    ``max_tries`` proposals is returned as ``GAVE_UP`` (-1; the caller finishes it exactly)."""
    out = np.empty((users.size, n_neg), dtype=np.int64)
    return out, _fill(users, n_neg, n_items, bytemap, bits, alias_prob, alias, seed, max_tries, out)
