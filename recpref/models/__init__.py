"""Models map ids to scores: `score(users, items)` and `score_all(users)` (no loss, no optimiser)."""

from recpref.models.graph import NGCF, LightGCN, normalized_adjacency
from recpref.models.hcn import HCN, rerank
from recpref.models.histories import HistoryModel
from recpref.models.mf import MF, Encoder
from recpref.models.multi_interest import MIND, ComiRecDR, ComiRecSA
from recpref.models.sequential import Interests, MeanPooling, SASRec, SequenceEncoder

__all__ = [
    "HCN", "MF", "MIND", "NGCF", "SASRec", "ComiRecDR", "ComiRecSA", "Encoder", "HistoryModel", "Interests",
    "LightGCN", "MeanPooling", "SequenceEncoder", "normalized_adjacency", "rerank",
]
