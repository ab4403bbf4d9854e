"""Data layer: `Interactions` (CSR + vocabularies) and deterministic splitters."""

from recpref.data.interactions import Dedupe, Interactions, TorchCSR
from recpref.data.sequences import (
    HeldOut,
    PaddedSequences,
    PadSide,
    SequenceBatch,
    SequenceSampler,
    Sequences,
    SequenceSplit,
    comirec_split,
    leave_one_out,
)
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
    "HeldOut",
    "Interactions",
    "OrderBy",
    "PadSide",
    "PaddedSequences",
    "SequenceBatch",
    "SequenceSampler",
    "SequenceSplit",
    "Sequences",
    "Split",
    "TorchCSR",
    "Vocabulary",
    "comirec_split",
    "global_temporal_split",
    "leave_last_out",
    "leave_one_out",
    "overlap_count",
    "predefined_split",
    "random_split",
    "temporal_split",
]
