"""Losses: pure functions of scores -> scalar (no ids, no state, no config)."""

from recpref.losses.pairwise import (
    bpo_loss,
    bpr_loss,
    l2_regularization,
    nbpo_exact_loss,
    nbpo_surrogate_loss,
)
from recpref.losses.softmax import ccl_loss, directau_loss, full_softmax_loss, sampled_softmax_loss
from recpref.losses.unbiased import (
    LocalLoss,
    doubly_robust_loss,
    local_losses,
    pointwise_ips_loss,
    ubpr_loss,
    wmf_loss,
)

__all__ = [
    "LocalLoss",
    "bpo_loss",
    "bpr_loss",
    "ccl_loss",
    "directau_loss",
    "doubly_robust_loss",
    "full_softmax_loss",
    "l2_regularization",
    "local_losses",
    "nbpo_exact_loss",
    "nbpo_surrogate_loss",
    "pointwise_ips_loss",
    "sampled_softmax_loss",
    "ubpr_loss",
    "wmf_loss",
]
