"""Vectorised sampling kernels: positive streams and exact negative samplers -> index tensors."""

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
