"""`HistoryModel`: a sequence encoder plus the known users' recent histories, scored by user index.

The sequence encoders (`recpref.models.sequential`) map a history (B, T) to scores. Evaluation,
`Recommender.recommend` and the save format work on user indices, so this wrapper keeps each
known user's last ``max_len`` items as buffers (saved with the weights, so a loaded model
recommends for known users without the training data) and is an `Encoder` like MF.
"""

from __future__ import annotations

import torch
from torch import Tensor

from recpref.catalog import check_int
from recpref.models.mf import Encoder
from recpref.models.sequential import SequenceEncoder

__all__ = ["HistoryModel"]


class HistoryModel(Encoder):
    """``sequence`` (a `SequenceEncoder`) and ``n_users`` known users' histories.

    Buffers ``histories`` (n_users, max_len) int64 and ``history_mask`` (n_users, max_len) bool
    hold each user's last ``max_len`` items in the layout of `recpref.data.Sequences.padded`
    (pads = ``n_items``, mask True = a real item); they start empty (every score 0) until
    :meth:`set_histories`. ``score_all(users)`` = the encoder's ``score_all`` of those rows: max
    over the user's interests of interest . item. There is no user table: :meth:`embed` raises.
    """

    histories: Tensor
    history_mask: Tensor

    def __init__(self, sequence: SequenceEncoder, n_users: int) -> None:
        super().__init__()
        check_int("n_users", n_users, 1)
        self.sequence = sequence
        self.n_users, self.n_items = n_users, sequence.n_items
        shape = (n_users, sequence.max_len)
        self.register_buffer("histories", torch.full(shape, sequence.pad_index, dtype=torch.int64))
        self.register_buffer("history_mask", torch.zeros(shape, dtype=torch.bool))

    @property
    def max_len(self) -> int:
        return self.sequence.max_len

    def set_histories(self, items: Tensor, mask: Tensor) -> None:
        """Replace the stored histories: items (n_users, max_len) int64, mask (same shape) bool."""
        shape = tuple(self.histories.shape)
        if items.dtype != torch.int64 or tuple(items.shape) != shape:
            raise ValueError(f"items must be int64 of shape {shape}; got {items.dtype} {tuple(items.shape)}")
        if mask.dtype != torch.bool or tuple(mask.shape) != shape:
            raise ValueError(f"mask must be bool of shape {shape}; got {mask.dtype} {tuple(mask.shape)}")
        real = items[mask]
        if real.numel() and (int(real.min()) < 0 or int(real.max()) >= self.n_items):
            raise ValueError(f"history items out of range [0, {self.n_items})")
        with torch.no_grad():
            self.histories.copy_(items.masked_fill(~mask, self.sequence.pad_index))
            self.history_mask.copy_(mask)

    def embed(self) -> tuple[Tensor, Tensor]:
        raise NotImplementedError("a sequence model has no user table: users are scored from their histories "
                                  "(score_all, score, score_histories)")

    def score_all(self, users: Tensor) -> Tensor:
        """users (B,) -> (B, n_items) from the users' stored histories."""
        self._check(users)
        return self.sequence.score_all(self.histories[users], self.history_mask[users])

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """users (B,), items (B,) or (B, N) -> scores of the items' shape."""
        self._check(users, items)
        return self.sequence.score(self.histories[users], self.history_mask[users], items)

    def score_histories(self, history: Tensor, mask: Tensor) -> Tensor:
        """Any histories: history (B, T) int64, mask (B, T) bool, T <= max_len -> (B, n_items)."""
        return self.sequence.score_all(history, mask)
