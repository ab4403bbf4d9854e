"""Data layer: `Interactions` (CSR + vocabularies) and deterministic splitters."""

from recpref.data.interactions import Dedupe, Interactions, TorchCSR
from recpref.data.splits import (
    OrderBy,
    Split,
    global_temporal_split,
    leave_last_out,
    overlap_count,
    predefined_split,
    random_split,
    temporal_split,
)
from recpref.data.vocabulary import Vocabulary

__all__ = [
    "Dedupe",
    "Interactions",
    "OrderBy",
    "Split",
    "TorchCSR",
    "Vocabulary",
    "global_temporal_split",
    "leave_last_out",
    "overlap_count",
    "predefined_split",
    "random_split",
    "temporal_split",
]
