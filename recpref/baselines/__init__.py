"""Non-trained baselines behind the same scorer interface as every model."""

from recpref.baselines.simple import MostPopular, RandomScorer

__all__ = ["MostPopular", "RandomScorer"]
