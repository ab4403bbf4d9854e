"""Models map ids to scores: `score(users, items)` and `score_all(users)` (no loss, no optimiser)."""

from recpref.models.graph import NGCF, LightGCN, normalized_adjacency
from recpref.models.mf import MF, Encoder

__all__ = ["MF", "NGCF", "Encoder", "LightGCN", "normalized_adjacency"]
