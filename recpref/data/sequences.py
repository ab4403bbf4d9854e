"""`Sequences`: each user's interactions in time order, with seeded splits and ComiRec sampling.

Conventions shared by everything in this module:

* **Time order and ties.** ``by="timestamp"`` sorts a user's interactions by timestamp and
  breaks ties by input position (``Interactions.order``, the row in the file or frame the data
  was built from), never by item id. ``by="order"`` uses the input position alone. On the
  S3-Rec Amazon files (``amazon-beauty``, ``amazon-toys``) the timestamp *is* the position in the
  user's line, so both give the file's order; that file was made with a stable sort on day
  timestamps, so same-day items keep the raw review file's order. recpref cannot reorder such
  ties without the raw timestamps, and does not reorder them by id.
* **Padding.** Item indices are 0-based, so index 0 is a real item and never padding.
  Padded tensors use ``pad_index = n_items`` (one past the last item: an embedding table of
  ``n_items + 1`` rows can use it as ``padding_idx``) and come with a bool ``mask`` (True = a
  real item). Left padding (default) puts the most recent item in the last column; right
  padding puts the oldest kept item in the first column (ComiRec's layout). A history longer
  than ``max_len`` keeps its last ``max_len`` items.
* **Users without events** (empty rows, e.g. after ``Interactions.select``) are not part of
  any split or sample; users with some events but too few for a split raise ``ValueError``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from recpref.data.interactions import Interactions, _py
from recpref.data.splits import OrderBy
from recpref.data.vocabulary import Vocabulary

if TYPE_CHECKING:  # torch is imported where tensors are made: `recpref.data` stays torch-free to import
    import torch

__all__ = [
    "HeldOut",
    "PadSide",
    "PaddedSequences",
    "SequenceBatch",
    "SequenceSampler",
    "SequenceSplit",
    "Sequences",
    "comirec_split",
    "leave_one_out",
]

logger = logging.getLogger(__name__)

PadSide = Literal["left", "right"]
"""``left``: pads first, the most recent item in the last column. ``right``: items first."""


@dataclass(frozen=True)
class PaddedSequences:
    """items (B, T) int64 with pads = ``n_items``; mask (B, T) bool, True = real item;
    lengths (B,) int64 = number of real items per row (at most T)."""

    items: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor


@dataclass(frozen=True)
class SequenceBatch:
    """One ComiRec training batch. users (B,), cuts (B,) = position k of the target in the
    user's sequence, history (B, T) / mask (B, T) = the last T items before k (padded as
    :class:`PaddedSequences`), targets (B,) = item k. All int64 except ``mask`` (bool)."""

    users: torch.Tensor
    cuts: torch.Tensor
    history: torch.Tensor
    mask: torch.Tensor
    targets: torch.Tensor


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class Sequences:
    """Per-user item sequences in time order over an `Interactions` vocabulary space.

    ``items`` (nnz,) int64 holds every user's items oldest first, users one after another;
    user ``u``'s sequence is ``items[indptr[u]:indptr[u + 1]]``. There is one row per user of
    the vocabulary (possibly empty). Build with :meth:`from_interactions`; see the module
    docstring for tie order, padding and ``pad_index``.
    """

    __slots__ = ("_items", "_indptr", "_user_vocab", "_item_vocab")

    def __init__(self, items: np.ndarray, indptr: np.ndarray, user_vocab: Vocabulary, item_vocab: Vocabulary) -> None:
        # Private: from_interactions and the splits build these; checks are the invariants only.
        if len(indptr) != len(user_vocab) + 1 or int(indptr[-1]) != len(items):
            raise ValueError(f"indptr of length {len(indptr)} / end {int(indptr[-1])} does not match "
                             f"{len(user_vocab)} users and {len(items)} items")
        self._items = _readonly(np.asarray(items, dtype=np.int64))
        self._indptr = _readonly(np.asarray(indptr, dtype=np.int64))
        self._user_vocab = user_vocab
        self._item_vocab = item_vocab

    @classmethod
    def from_interactions(cls, data: Interactions, *, by: OrderBy = "timestamp") -> Sequences:
        """Order each user's interactions by ``by`` (ties by input position), vectorised."""
        if data.nnz == 0:
            raise ValueError("no interactions: the input is empty")
        if by == "timestamp":
            if data.timestamps is None:
                raise ValueError("this Interactions has no timestamps; use by='order' for the given order")
            perm = np.lexsort((data.order, data.timestamps, data.rows))
        elif by == "order":
            perm = np.lexsort((data.order, data.rows))
        else:
            raise ValueError(f"by must be 'timestamp' or 'order', got {by!r}")
        # rows are already grouped by user (CSR), so indptr is unchanged
        return cls(data.indices[perm], np.array(data.indptr), data.user_vocab, data.item_vocab)

    # ------------------------------------------------------------------ accessors
    @property
    def items(self) -> np.ndarray:
        """(nnz,) item indices, each user's oldest first (read-only)."""
        return self._items

    @property
    def indptr(self) -> np.ndarray:
        """(n_users + 1,) offsets of each user's sequence in :attr:`items` (read-only)."""
        return self._indptr

    @property
    def lengths(self) -> np.ndarray:
        """(n_users,) sequence length per user."""
        return np.diff(self._indptr)

    @property
    def n_users(self) -> int:
        return len(self._user_vocab)

    @property
    def n_items(self) -> int:
        return len(self._item_vocab)

    @property
    def pad_index(self) -> int:
        """The padding value of padded tensors: ``n_items`` (item 0 is a real item)."""
        return self.n_items

    @property
    def nnz(self) -> int:
        return len(self._items)

    @property
    def user_vocab(self) -> Vocabulary:
        return self._user_vocab

    @property
    def item_vocab(self) -> Vocabulary:
        return self._item_vocab

    @property
    def rows(self) -> np.ndarray:
        """(nnz,) user index of each stored item."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.lengths)

    @property
    def positions(self) -> np.ndarray:
        """(nnz,) 0-based position of each stored item within its user's sequence."""
        return np.arange(self.nnz, dtype=np.int64) - self._indptr[self.rows]

    def sequence(self, user: int) -> np.ndarray:
        """Item indices of one user, oldest first."""
        if not 0 <= user < self.n_users:
            raise IndexError(f"user index {user} out of range [0, {self.n_users})")
        return self._items[self._indptr[user] : self._indptr[user + 1]]

    def __repr__(self) -> str:
        return f"Sequences(n_users={self.n_users}, n_items={self.n_items}, nnz={self.nnz})"

    # ------------------------------------------------------------------ derived
    def select(self, mask: npt.ArrayLike) -> Sequences:
        """Keep the items where ``mask`` (nnz,) is true; order and vocabularies unchanged."""
        m = np.asarray(mask, dtype=bool)
        if m.shape != (self.nnz,):
            raise ValueError(f"mask has shape {m.shape}, expected ({self.nnz},)")
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.rows[m], minlength=self.n_users), out=indptr[1:])
        return Sequences(self._items[m].copy(), indptr, self._user_vocab, self._item_vocab)

    def to_interactions(self) -> Interactions:
        """The same (user, item) pairs as `Interactions`, timestamps = position in the sequence
        (what `evaluate` takes as train / test). Needs no repeated item within a user."""
        return Interactions.from_indices(
            self.rows, self._items, n_users=self.n_users, n_items=self.n_items, timestamps=self.positions,
            user_vocab=self._user_vocab, item_vocab=self._item_vocab,
        )

    def padded(self, users: npt.ArrayLike | torch.Tensor | None = None, max_len: int | None = None, *,
               side: PadSide = "left", device: torch.device | str = "cpu") -> PaddedSequences:
        """Rows for ``users`` (B,) user indices (default: all users), the last ``max_len``
        items of each (default: the longest selected sequence), padded on ``side``."""
        import torch

        u = np.arange(self.n_users) if users is None else np.asarray(
            users.cpu() if isinstance(users, torch.Tensor) else users, dtype=np.int64).ravel()
        if u.size == 0:
            raise ValueError("no users given: the input is empty")
        bad = (u < 0) | (u >= self.n_users)
        if bad.any():
            raise ValueError(f"user index {int(u[bad][0])} out of range [0, {self.n_users})")
        ends = self._indptr[u + 1]
        lengths = ends - self._indptr[u]
        if max_len is None:
            max_len = max(int(lengths.max()), 1)
        _check_positive("max_len", max_len)
        dev = torch.device(device)
        return _windows(torch.tensor(self._items, device=dev), torch.as_tensor(ends, device=dev),
                        torch.as_tensor(lengths, device=dev), int(max_len), side, self.pad_index)

    def encode(self, histories: Sequence[Sequence[Any] | npt.ArrayLike], max_len: int, *,
               side: PadSide = "left", device: torch.device | str = "cpu") -> PaddedSequences:
        """New histories given as raw item ids (oldest first; repeats allowed), padded as
        :meth:`padded`. An unknown id or an empty history raises ``ValueError`` naming it."""
        import torch

        _check_positive("max_len", max_len)
        if len(histories) == 0:
            raise ValueError("no histories given: the input is empty")
        raw = [np.asarray(h).ravel() for h in histories]
        for b, h in enumerate(raw):
            if h.size == 0:
                raise ValueError(f"history {b} is empty: a sequence model needs at least one item")
        lengths = np.array([h.size for h in raw], dtype=np.int64)
        try:
            flat = self._item_vocab.index(np.concatenate(raw), what="item id")
        except (KeyError, ValueError) as e:
            for b, h in enumerate(raw):  # error path only: name the first offending history
                unknown = [x for x in h.tolist() if x not in self._item_vocab]
                if unknown:
                    raise ValueError(f"history {b}: unknown item id {unknown[0]!r} (not in the item vocabulary; "
                                     f"all histories: {e.args[0]})") from None
            raise ValueError(e.args[0]) from None
        dev = torch.device(device)
        return _windows(torch.as_tensor(flat, device=dev), torch.as_tensor(np.cumsum(lengths), device=dev),
                        torch.as_tensor(lengths, device=dev), max_len, side, self.pad_index)


def _windows(flat: torch.Tensor, ends: torch.Tensor, lengths: torch.Tensor, max_len: int, side: PadSide,
             pad: int) -> PaddedSequences:
    """Row b = the last ``min(lengths[b], max_len)`` items of ``flat[ends[b] - lengths[b]:ends[b]]``,
    padded with ``pad`` on ``side`` -> (B, max_len). One gather, no loop over rows."""
    import torch

    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    n = lengths.clamp(max=max_len).unsqueeze(1)  # (B, 1)
    cols = torch.arange(max_len, device=flat.device).unsqueeze(0)  # (1, T)
    offset = cols - (max_len - n) if side == "left" else cols.expand(len(lengths), max_len)
    mask = (offset >= 0) & (offset < n)
    if flat.numel() == 0:
        return PaddedSequences(torch.full(mask.shape, pad, dtype=torch.int64, device=flat.device), mask, n.squeeze(1))
    idx = torch.where(mask, ends.unsqueeze(1) - n + offset, 0)
    items = torch.where(mask, flat[idx], torch.full_like(idx, pad))
    return PaddedSequences(items, mask, n.squeeze(1))


# ---------------------------------------------------------------------- splits
@dataclass(frozen=True)
class HeldOut:
    """Evaluation users with an input history and the targets that follow it.

    users (n,) sorted user indices; ``inputs`` and ``targets`` are `Sequences` over the same
    space (rows of other users empty), targets in time order.
    """

    users: np.ndarray
    inputs: Sequences
    targets: Sequences


@dataclass(frozen=True)
class SequenceSplit:
    """``train`` sequences (sample from these) plus held-out ``valid`` (optional) and ``test``."""

    train: Sequences
    test: HeldOut
    valid: HeldOut | None = None


def _check_min_events(seqs: Sequences, minimum: int, why: str) -> np.ndarray:
    """Users with at least one event; raises naming users that have 1..minimum-1."""
    lengths = seqs.lengths
    short = (lengths > 0) & (lengths < minimum)
    if short.any():
        idx = np.flatnonzero(short)
        raw = seqs.user_vocab.raw
        shown = ", ".join(f"user {_py(raw[u])!r} ({lengths[u]} events)" for u in idx[:3])
        raise ValueError(f"{idx.size} users have fewer than {minimum} events ({why}), e.g. {shown}")
    active = np.flatnonzero(lengths > 0)
    if active.size == 0:
        raise ValueError("no interactions: the input is empty")
    return active


def leave_one_out(seqs: Sequences, *, valid: bool = True) -> SequenceSplit:
    """The S3-Rec / TIGER protocol: each user's last item is the test target, the one before
    it the validation target, the rest the training sequence. Validation input = train; test
    input = train + the validation item. Needs 3 events per user (2 with ``valid=False``) so
    that every input history holds at least one item; fewer raises ``ValueError`` naming users."""
    n_held = 2 if valid else 1
    users = _check_min_events(seqs, n_held + 1, "leave-one-out needs at least one input item and "
                              f"{n_held} target{'s' if n_held > 1 else ''}")
    from_end = seqs.lengths[seqs.rows] - 1 - seqs.positions
    test = HeldOut(users, seqs.select(from_end >= 1), seqs.select(from_end == 0))
    if not valid:
        return SequenceSplit(train=test.inputs, test=test)
    train = seqs.select(from_end >= 2)
    return SequenceSplit(train=train, test=test, valid=HeldOut(users, train, seqs.select(from_end == 1)))


def comirec_split(seqs: Sequences, *, seed: int, train_ratio: float = 0.8, valid_ratio: float = 0.1,
                  input_ratio: float = 0.8) -> SequenceSplit:
    """ComiRec's strong-generalisation split: users (with events) are permuted with ``seed``;
    the first ``floor(train_ratio * n)`` are train users (whole sequences), the next
    ``floor(valid_ratio * n)`` validation users (``valid`` is None when that is 0), the rest
    test users. A validation / test
    user's first ``floor(input_ratio * len)`` items are the input, the rest the targets, kept
    within [1, len - 1] (ComiRec's floor(0.8 len) always is). Every user needs 2 events."""
    for name, value in (("train_ratio", train_ratio), ("valid_ratio", valid_ratio)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if train_ratio + valid_ratio >= 1.0:
        raise ValueError(f"train_ratio + valid_ratio must be < 1 (test users need a share), got {train_ratio + valid_ratio}")
    if not 0.0 < input_ratio < 1.0:
        raise ValueError(f"input_ratio must be in (0, 1), got {input_ratio}")
    active = _check_min_events(seqs, 2, "an input item and a target")
    perm = np.random.default_rng(seed).permutation(active)
    n1 = int(np.floor(train_ratio * perm.size + 1e-9))
    n2 = n1 + int(np.floor(valid_ratio * perm.size + 1e-9))
    group = np.full(seqs.n_users, -1, dtype=np.int64)
    group[perm[:n1]], group[perm[n1:n2]], group[perm[n2:]] = 0, 1, 2
    lengths = seqs.lengths
    cut = np.clip(np.floor(input_ratio * lengths + 1e-9).astype(np.int64), 1, np.maximum(lengths - 1, 1))
    rows = seqs.rows
    g, is_input = group[rows], seqs.positions < cut[rows]

    def held(k: int) -> HeldOut:
        return HeldOut(np.sort(perm[n1:n2] if k == 1 else perm[n2:]), seqs.select((g == k) & is_input),
                       seqs.select((g == k) & ~is_input))

    return SequenceSplit(train=seqs.select(g == 0), test=held(2), valid=held(1) if n2 > n1 else None)


# ---------------------------------------------------------------------- sampling
class SequenceSampler:
    """Training samples as ComiRec draws them, whole batches at once on ``device``.

    Each sample: a user uniformly among the users whose sequence is longer than
    ``min_history``; a cut k uniformly in ``[min_history, len)``; target = item k; history =
    the last ``max_len`` items before k, padded (pads = ``n_items``, see the module docstring).
    ComiRec uses ``min_history=4`` (``random.choice(range(4, len))``); on short leave-one-out
    sequences pass ``min_history=1``, else users with ``len <= min_history`` are never drawn
    (:attr:`users` lists the ones that are).
    """

    def __init__(self, train: Sequences, max_len: int, *, min_history: int = 4, side: PadSide = "left",
                 device: torch.device | str = "cpu") -> None:
        import torch

        _check_positive("max_len", max_len)
        _check_positive("min_history", min_history)
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        eligible = np.flatnonzero(train.lengths > min_history)
        if eligible.size == 0:
            raise ValueError(f"no user has more than min_history={min_history} events "
                             f"(longest sequence: {int(train.lengths.max(initial=0))})")
        skipped = int((train.lengths > 0).sum()) - eligible.size
        if skipped:
            logger.info("%d users with <= %d events are never drawn as training samples", skipped, min_history)
        self.device = torch.device(device)
        self.max_len, self.min_history, self.side = int(max_len), int(min_history), side
        self.n_items, self.pad_index = train.n_items, train.pad_index
        self.items = torch.tensor(train.items, device=self.device)
        self.indptr = torch.tensor(train.indptr, device=self.device)
        self.users = torch.as_tensor(eligible, device=self.device)

    def sample(self, batch_size: int, gen: torch.Generator) -> SequenceBatch:
        """Draw ``batch_size`` samples with ``gen`` (a generator on the sampler's device)."""
        import torch

        _check_positive("batch_size", batch_size)
        if gen.device.type != self.device.type:
            raise ValueError(f"generator is on {gen.device}, the sampler on {self.device}; pass a generator there")
        users = self.users[torch.randint(len(self.users), (batch_size,), generator=gen, device=self.device)]
        start = self.indptr[users]
        span = self.indptr[users + 1] - start - self.min_history  # >= 1 choices of k per user
        u = torch.rand(batch_size, generator=gen, device=self.device, dtype=torch.float64)
        cuts = self.min_history + torch.minimum((u * span).long(), span - 1)
        ends = start + cuts
        win = _windows(self.items, ends, cuts, self.max_len, self.side, self.pad_index)
        return SequenceBatch(users, cuts, win.items, win.mask, self.items[ends])
