"""Vectorised sampling kernels: positive streams and exact negative samplers -> index tensors.

Same seed on the CPU and on a GPU: different batches. Every draw comes from the caller's
``torch.Generator``, and torch's CPU generator (Mersenne Twister) and CUDA generator (Philox)
give different numbers for the same seed, so the positives (``torch.randint``,
``torch.randperm``) already differ. The negatives differ twice over: the compiled CPU loop
(`recpref.kernels.negatives`) takes one seed from the generator and draws each slot from a
splitmix64 stream until it is not a positive, while the vectorised torch path (on a GPU, and on
the CPU with ``backend="torch"`` or a sorted-keys table) proposes every slot at once and redraws
the rejected ones in rounds, so even on one device the two backends give different,
identically distributed negatives. What holds: the same (seed, rank, epoch, device, backend)
gives the same batches in every run (on the CPU for any torch or numba thread count), and both
backends follow the same distribution (tests/sampling checks each against one slow reference).
Identical batches across devices would need one counter-based generator, written once for numba
and once in torch integer ops and indexed by (seed, epoch, slot, try), for every draw (positive
indices, the shuffle permutation, negative proposals, the exact fallback) in place of the
``torch.Generator`` the samplers take: not done.
"""

from recpref.sampling.generators import make_generator, stream_seed
from recpref.sampling.negatives import (
    HardNegativeSampler,
    MembershipTable,
    NegativeSampler,
    PopularitySampler,
    ScoreFn,
    UniformSampler,
)
from recpref.sampling.positives import PositiveSampler, PositiveStream

__all__ = [
    "HardNegativeSampler",
    "MembershipTable",
    "NegativeSampler",
    "PopularitySampler",
    "PositiveSampler",
    "PositiveStream",
    "ScoreFn",
    "UniformSampler",
    "make_generator",
    "stream_seed",
]
