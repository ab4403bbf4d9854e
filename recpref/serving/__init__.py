"""Production API: `Recommender` (fit, recommend on raw ids, save/load)."""

from recpref.serving.recommender import Recommender, RecommenderConfig

__all__ = ["Recommender", "RecommenderConfig"]
