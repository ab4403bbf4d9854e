"""Production API: `Recommender` (fit, recommend on raw ids, save/load); multi-interest
retrieval and ComiRec's controllable aggregation (`recpref.serving.retrieval`)."""

from recpref.serving.recommender import InterestRecommendations, Recommender, RecommenderConfig
from recpref.serving.retrieval import Candidates, FaissIndex, ItemIndex, aggregate, retrieve, search_interests

__all__ = [
    "Candidates", "FaissIndex", "InterestRecommendations", "ItemIndex", "Recommender", "RecommenderConfig", "aggregate",
    "retrieve", "search_interests",
]
