"""Encoder registry: one constructor per public model name (`recpref.catalog.MODELS`)."""

from __future__ import annotations

from collections.abc import Callable

from recpref.data import Interactions
from recpref.models import MF, NGCF, Encoder, LightGCN
from recpref.training.config import ModelConfig

ENCODERS: dict[str, Callable[[ModelConfig, Interactions], Encoder]] = {
    "mf": lambda c, t: MF(t.n_users, t.n_items, c.dim, init=c.init),
    "lightgcn": lambda c, t: LightGCN(t, dim=c.dim, n_layers=c.n_layers),
    "ngcf": lambda c, t: NGCF(t, dim=c.dim, n_layers=c.n_layers, message_dropout=c.message_dropout),
}


def build_encoder(config: ModelConfig, train: Interactions) -> Encoder:
    """The encoder ``config.model`` names, sized for ``train``'s users and items."""
    return ENCODERS[config.model](config, train)
