"""Losses: pure functions of scores -> scalar (no ids, no state, no config)."""

from recpref.losses.pairwise import (
    bpo_loss,
    bpr_loss,
    l2_regularization,
    nbpo_exact_loss,
    nbpo_surrogate_loss,
)

__all__ = ["bpo_loss", "bpr_loss", "l2_regularization", "nbpo_exact_loss", "nbpo_surrogate_loss"]
