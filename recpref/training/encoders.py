"""Encoder registry: one constructor per public model name (`recpref.catalog.MODELS`).

Interaction models (mf, lightgcn, ngcf) are built from a `ModelConfig`; sequence models from a
`SequenceModelConfig`, as a `HistoryModel` around the `SequenceEncoder` (histories empty until
the fit or a load fills them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recpref.data import Interactions
from recpref.models import (HCN, MF, MIND, NGCF, ComiRecDR, ComiRecSA, Encoder, HistoryModel, LightGCN, MeanPooling,
                            SASRec)
from recpref.models.sequential import SequenceEncoder
from recpref.training.config import AnyModelConfig
from recpref.training.sequence_config import SequenceModelConfig

SEQUENCE_ENCODERS: dict[str, Callable[[SequenceModelConfig, int], SequenceEncoder]] = {
    "mind": lambda c, n: MIND(n, c.dim, n_interests=c.setting("n_interests"), max_len=c.max_len,
                              n_iterations=c.setting("n_iterations"), power=c.setting("power")),
    "comirec-dr": lambda c, n: ComiRecDR(n, c.dim, n_interests=c.setting("n_interests"), max_len=c.max_len,
                                         n_iterations=c.setting("n_iterations")),
    "comirec-sa": lambda c, n: ComiRecSA(n, c.dim, n_interests=c.setting("n_interests"), max_len=c.max_len,
                                         attention_dim=c.attention_dim),
    "mean": lambda c, n: MeanPooling(n, c.dim, max_len=c.max_len),
    "sasrec": lambda c, n: SASRec(n, c.dim, max_len=c.max_len, n_blocks=c.setting("n_blocks"),
                                  n_heads=c.setting("n_heads"), dropout=c.setting("dropout")),
    "hcn": lambda c, n: HCN(n, c.dim, n_interests=c.setting("n_interests"), max_len=c.max_len,
                            short_len=c.setting("short_len"), level1_interests=c.level1_interests,
                            n_iterations=c.setting("n_iterations")),
}
"""Sequence encoders by model name: (config, n_items) -> encoder."""


def _history_model(name: str) -> Callable[[Any, Interactions], Encoder]:
    return lambda c, t: HistoryModel(SEQUENCE_ENCODERS[name](c, t.n_items), t.n_users)


ENCODERS: dict[str, Callable[[Any, Interactions], Encoder]] = {
    "mf": lambda c, t: MF(t.n_users, t.n_items, c.dim, init=c.init),
    "lightgcn": lambda c, t: LightGCN(t, dim=c.dim, n_layers=c.n_layers),
    "ngcf": lambda c, t: NGCF(t, dim=c.dim, n_layers=c.n_layers, message_dropout=c.message_dropout),
    **{name: _history_model(name) for name in SEQUENCE_ENCODERS},
}


def build_encoder(config: AnyModelConfig, train: Interactions) -> Encoder:
    """The encoder ``config.model`` names, sized for ``train``'s users and items."""
    return ENCODERS[config.model](config, train)
