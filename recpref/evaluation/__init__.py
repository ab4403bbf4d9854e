"""Evaluation: scores + held-out truth -> numbers. Knows nothing about training."""

from recpref.evaluation.candidates import evaluate_candidates
from recpref.evaluation.diversity import diversity, evaluate_with_diversity
from recpref.evaluation.full_ranking import Scorer
from recpref.evaluation.metrics import (
    BEYOND_METRICS,
    DEFAULT_METRICS,
    RANKING_METRICS,
    MetricName,
    gini_index,
    ranking_metrics,
)
from recpref.evaluation.protocol import EvalResult, evaluate
from recpref.evaluation.ranked_lists import RankedListResult, evaluate_ranked_lists
from recpref.evaluation.ranking import canonical_topk, topk_unseen

__all__ = [
    "BEYOND_METRICS",
    "DEFAULT_METRICS",
    "RANKING_METRICS",
    "EvalResult",
    "MetricName",
    "RankedListResult",
    "Scorer",
    "canonical_topk",
    "diversity",
    "evaluate",
    "evaluate_candidates",
    "evaluate_ranked_lists",
    "evaluate_with_diversity",
    "gini_index",
    "ranking_metrics",
    "topk_unseen",
]
