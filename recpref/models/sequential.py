"""Sequence encoders: a user's recent history (B, T) -> K interest vectors (B, K, d).

One interface (:class:`SequenceEncoder`) for the multi-interest extractors
(`recpref.models.multi_interest`: MIND, ComiRec-DR, ComiRec-SA) and the single-interest
references here (:class:`MeanPooling`, YouTube DNN style, and :class:`SASRec`), so one
full-ranking evaluator and one training step serve every model (methods.md section 3.1):

* ``interests(history, mask) -> Interests(vectors (B, K, d), mask (B, K) bool)``; an inactive
  interest (MIND's dynamic K) has a zero vector and ``mask`` False.
* ``score_all(history, mask) -> (B, n_items)`` = max over the active interests of
  interest . item, over the real items only (never the pad row); ``score`` for given items.
* ``readout(vectors, interest_mask, target_emb) -> (B, d)``: the training readout, the active
  interest with the largest inner product with the target (ComiRec); MIND overrides it with its
  label-aware attention.

Conventions (shared with `recpref.data.sequences`):

* ``item_emb`` has ``n_items + 1`` rows; row ``n_items`` is the padding row (``padding_idx``).
  ``history`` (B, T) int64 item indices, ``mask`` (B, T) bool, True = a real item, 1 <= T <= max_len.
* **Padded positions never change an output.** Ids at masked positions are replaced by the pad
  index, and the pad row's values are masked out wherever they would enter a sum (they are not
  assumed to be zero), so any id at a pad and any pad-row value give the same interests.
* **Layout [ours].** Each encoder first moves a row's real items, in order, to the right end
  (left padding, the default of `PaddedSequences`); left padding, right padding (ComiRec's
  layout) and gaps in the mask therefore give the same interests.
* **Positions [ours].** Models with per-position parameters (SASRec's and ComiRec-SA's positional
  embeddings, ComiRec-DR's capsule maps, MIND's fixed evaluation routing logits) count positions
  back from the most recent item: the most recent real item has position ``max_len - 1``, the one
  before ``max_len - 2``, and so on. This is SASRec's layout (left padding to ``max_len``);
  ComiRec's code pads on the right and numbers positions from the oldest kept item, which is the
  same relabelled for full histories but anchors short histories at their oldest item instead
  of their most recent.
* **Empty history** (no real item): zero interest vectors, so every score is 0 (not NaN).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recpref.catalog import check_float, check_int

__all__ = ["Interests", "MeanPooling", "SASRec", "SequenceEncoder", "left_align", "masked_softmax"]


class Interests(NamedTuple):
    vectors: Tensor  # (B, K, d); zero where inactive
    mask: Tensor  # (B, K) bool, True = active interest


def check_positive_power(name: str, value: object) -> None:
    """A number > 0, ``math.inf`` allowed (the hard-attention limit), else ``ValueError``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a number in (0, inf] (inf = hard argmax); got {value!r}")


def left_align(history: Tensor, mask: Tensor, pad_index: int) -> tuple[Tensor, Tensor]:
    """history (B, T), mask (B, T) -> the same rows with their real items moved, in order, to the
    right end and every other position set to ``pad_index`` (left padding). One stable sort of
    the mask per row, no loop over rows."""
    order = torch.argsort(mask.to(torch.int8), dim=1, stable=True)  # pads first, both in order
    m = mask.gather(1, order)
    return history.gather(1, order).masked_fill(~m, pad_index), m


def masked_softmax(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax of ``logits`` over ``dim`` restricted to ``mask`` (True = take part; broadcast to
    ``logits``): masked entries get weight exactly 0. A slice with no True entry gets all-zero
    weights (no NaN, in the value or the gradient)."""
    mask = mask.expand_as(logits)
    any_true = mask.any(dim, keepdim=True)
    x = logits.masked_fill(~mask, float("-inf")).masked_fill(~any_true, 0.0)
    return torch.softmax(x, dim=dim).masked_fill(~mask, 0.0)


class SequenceEncoder(nn.Module):
    """Base of the sequence encoders: item table, input checks, layout, scoring, readout.

    Subclasses implement :meth:`_encode` on left-aligned input (see the module docstring);
    everything public goes through :meth:`interests`, which checks and aligns the input first.
    """

    n_items: int
    dim: int
    n_interests: int
    max_len: int

    def __init__(self, n_items: int, dim: int, n_interests: int, max_len: int, init_std: float) -> None:
        super().__init__()
        check_int("n_items", n_items, 1)
        check_int("dim", dim, 1)
        check_int("n_interests", n_interests, 1)
        check_int("max_len", max_len, 1)
        check_float("init_std", init_std, low=0.0, low_open=True)
        self.n_items, self.dim, self.n_interests, self.max_len = n_items, dim, n_interests, max_len
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        nn.init.normal_(self.item_emb.weight, std=init_std)
        with torch.no_grad():
            self.item_emb.weight[n_items].zero_()

    @property
    def pad_index(self) -> int:
        """The padding item index (= ``n_items``, the last row of ``item_emb``)."""
        return self.n_items

    # ------------------------------------------------------------------ input handling
    def _check_inputs(self, history: Tensor, mask: Tensor) -> None:
        if not isinstance(history, Tensor) or history.dtype != torch.int64 or history.dim() != 2:
            raise ValueError("history must be a 2-D int64 tensor (B, T) of item indices; got "
                             + (f"{history.dtype} of shape {tuple(history.shape)}" if isinstance(history, Tensor)
                                else type(history).__name__))
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != history.shape:
            raise ValueError(f"mask must be a bool tensor of the history's shape {tuple(history.shape)}; got "
                             + (f"{mask.dtype} of shape {tuple(mask.shape)}" if isinstance(mask, Tensor)
                                else type(mask).__name__))
        t = history.shape[1]
        if not 1 <= t <= self.max_len:
            raise ValueError(f"history has T = {t} columns; this model takes 1 <= T <= max_len = {self.max_len}")

    def _check_ids(self, history: Tensor, mask: Tensor) -> None:
        """Range check of the real items (a host sync: scoring paths only, not training)."""
        real = history[mask]
        if real.numel() and (int(real.min()) < 0 or int(real.max()) >= self.n_items):
            raise ValueError(f"item indices at real (unmasked) positions out of range [0, {self.n_items})")

    def _prepare(self, history: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        self._check_inputs(history, mask)
        return left_align(history, mask, self.pad_index)

    def _embed(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids (B, T), mask (B, T) -> item embeddings (B, T, d), exactly 0 at pads."""
        return self.item_emb(ids).masked_fill(~mask.unsqueeze(-1), 0.0)

    def _positions(self, t: int) -> slice:
        """Positions of the T columns of a left-aligned batch: ``max_len - T .. max_len - 1``."""
        return slice(self.max_len - t, self.max_len)

    # ------------------------------------------------------------------ interface
    def _encode(self, ids: Tensor, mask: Tensor) -> Interests:
        raise NotImplementedError

    #: Encode rows in length buckets (:meth:`_encode_bucketed`); False = one pass over all T columns.
    length_buckets: bool = True

    def interests(self, history: Tensor, mask: Tensor) -> Interests:
        """history (B, T) int64, mask (B, T) bool -> Interests(vectors (B, K, d), mask (B, K))."""
        ids, m = self._prepare(history, mask)
        return self._encode_bucketed(ids, m) if self.length_buckets else self._encode(ids, m)

    def _encode_bucketed(self, ids: Tensor, mask: Tensor) -> Interests:
        """:meth:`_encode` on left-aligned rows grouped by length: a row of n real items goes to
        the bucket of width w = the smallest power of two >= n (capped at T) and is encoded from
        its last w columns only. Exact: after left alignment the dropped columns are pads, and
        positions count back from the most recent item, so a row's interests do not depend on
        how many pad columns precede it (the padding-invariance the tests check per model).
        Histories are mostly short (Amazon Beauty's training sequences average 6.9 items against
        a 50-item window), so this skips most of the work on pads (docs/benchmarks.md, "Sequence
        models: seconds per training epoch"). One host sync (the bucket sizes);
        rows are encoded in one pass when buckets would not save a quarter of the columns."""
        b, t = ids.shape
        if t < 4 or b < 2:
            return self._encode(ids, mask)
        n = mask.sum(1).clamp(min=1)
        widths = torch.pow(2, torch.ceil(torch.log2(n.to(torch.float64)))).to(torch.int64).clamp(max=t)
        values, counts = torch.unique(widths, return_counts=True)
        sizes = [(int(w), int(c)) for w, c in zip(values.tolist(), counts.tolist())]
        if len(sizes) == 1:
            w = sizes[0][0]
            return self._encode(ids[:, t - w:], mask[:, t - w:])
        if sum(w * c for w, c in sizes) > 0.75 * b * t:
            return self._encode(ids, mask)
        rows, parts = [], []
        for w, _ in sizes:
            idx = torch.nonzero(widths == w).squeeze(1)
            rows.append(idx)
            parts.append(self._encode(ids[idx, t - w:], mask[idx, t - w:]))
        order = torch.argsort(torch.cat(rows))  # batch row -> its place in the concatenated parts
        return Interests(torch.cat([p.vectors for p in parts])[order], torch.cat([p.mask for p in parts])[order])

    def forward(self, history: Tensor, mask: Tensor) -> Interests:
        return self.interests(history, mask)

    def _check_readout(self, vectors: Tensor, interest_mask: Tensor, target_emb: Tensor) -> None:
        b = vectors.shape[0] if vectors.dim() == 3 else -1
        if vectors.dim() != 3 or vectors.shape[1:] != (self.n_interests, self.dim):
            raise ValueError(f"interests must have shape (B, {self.n_interests}, {self.dim}); got "
                             f"{tuple(vectors.shape)}")
        if interest_mask.dtype != torch.bool or interest_mask.shape != (b, self.n_interests):
            raise ValueError(f"interest_mask must be bool of shape ({b}, {self.n_interests}); got "
                             f"{interest_mask.dtype} {tuple(interest_mask.shape)}")
        if target_emb.shape != (b, self.dim) or not target_emb.is_floating_point():
            raise ValueError(f"target_emb must be a float tensor of shape ({b}, {self.dim}); got "
                             f"{target_emb.dtype} {tuple(target_emb.shape)}")

    def readout(self, vectors: Tensor, interest_mask: Tensor, target_emb: Tensor) -> Tensor:
        """Training readout (ComiRec): vectors (B, K, d), interest_mask (B, K), target_emb (B, d)
        -> (B, d), the active interest with the largest inner product with the target (first on
        ties). The gradient reaches the chosen interest only."""
        self._check_readout(vectors, interest_mask, target_emb)
        return hard_readout(vectors, interest_mask, target_emb)

    def score(self, history: Tensor, mask: Tensor, items: Tensor) -> Tensor:
        """items (B,) or (B, N) -> (B,) or (B, N): max over the active interests of interest . item."""
        if items.dtype != torch.int64 or items.dim() not in (1, 2) or items.shape[0] != history.shape[0]:
            raise ValueError(f"items must be int64 of shape (B,) or (B, N) with B = {history.shape[0]}; got "
                             f"{items.dtype} {tuple(items.shape)}")
        self._check_inputs(history, mask)
        self._check_ids(history, mask)
        if items.numel() and (int(items.min()) < 0 or int(items.max()) >= self.n_items):
            raise ValueError(f"item indices out of range [0, {self.n_items})")
        v, im = self.interests(history, mask)
        e = self.item_emb(items.reshape(items.shape[0], -1))  # (B, N, d)
        s = torch.einsum("bkd,bnd->bkn", v, e).masked_fill(~im.unsqueeze(-1), float("-inf")).amax(1)
        return s.reshape(items.shape)

    def score_all(self, history: Tensor, mask: Tensor) -> Tensor:
        """history (B, T), mask (B, T) -> (B, n_items): max over the active interests of
        interest . item. One (B, n_items) product per interest (a running max), not (B, K, n_items)."""
        self._check_inputs(history, mask)
        self._check_ids(history, mask)
        v, im = self.interests(history, mask)
        items = self.item_emb.weight[: self.n_items]
        out: Tensor | None = None
        for k in range(self.n_interests):
            s = v[:, k] @ items.T
            if not bool(im[:, k].all()):  # in place, and only where an interest is inactive
                s.masked_fill_(~im[:, k : k + 1], float("-inf"))
            if out is None:
                out = s
            elif out.requires_grad or s.requires_grad:
                out = torch.maximum(out, s)
            else:  # scoring under no_grad: one (B, n_items) buffer, no allocation per interest
                torch.maximum(out, s, out=out)
        assert out is not None
        return out


def hard_readout(vectors: Tensor, interest_mask: Tensor, target_emb: Tensor) -> Tensor:
    """(B, K, d), (B, K), (B, d) -> (B, d): the active interest of largest inner product with the target."""
    logits = torch.einsum("bkd,bd->bk", vectors, target_emb).masked_fill(~interest_mask, float("-inf"))
    idx = logits.argmax(1)
    return vectors.gather(1, idx.view(-1, 1, 1).expand(-1, 1, vectors.shape[-1])).squeeze(1)


class MeanPooling(SequenceEncoder):
    """Single-interest reference, YouTube DNN style: the mean of the real items' embeddings,
    then ``n_layers`` dense d -> d layers with ReLU between them (none after the last, so the
    user vector can take any sign). ``n_layers = 1`` is ComiRec's YouTube DNN baseline (one dense
    layer after the mean); ``0`` is the plain mean. K = 1."""

    def __init__(self, n_items: int, dim: int = 64, *, max_len: int = 50, n_layers: int = 1,
                 init_std: float = 0.1) -> None:
        super().__init__(n_items, dim, 1, max_len, init_std)
        check_int("n_layers", n_layers, 0)
        self.layers = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))

    def _encode(self, ids: Tensor, mask: Tensor) -> Interests:
        e = self._embed(ids, mask)
        n = mask.sum(1, keepdim=True)
        v = e.sum(1) / n.clamp(min=1).to(e.dtype)
        for j, layer in enumerate(self.layers):
            v = layer(v if j == 0 else torch.relu(v))
        v = v.masked_fill(n == 0, 0.0)  # empty history -> zero vector (the layers' biases excluded)
        return Interests(v.unsqueeze(1), torch.ones(v.shape[0], 1, dtype=torch.bool, device=v.device))


class _SelfAttentionBlock(nn.Module):
    """Pre-LayerNorm transformer block: x + Drop(MHA(LN(x))), then x + Drop(FFN(LN(x)));
    FFN = Linear(d, d) -> ReLU -> Dropout -> Linear(d, d) (SASRec's point-wise FFN, inner size d)."""

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.p = n_heads, dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """x (B, T, d), allowed (B, 1, T, T) bool (True = query may attend key) -> (B, T, d)."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ffn(self.norm2(x)))


class SASRec(SequenceEncoder):
    """Single-interest reference: SASRec (Kang & McAuley, ICDM 2018), ``n_blocks`` causal
    self-attention blocks over ``item_emb * sqrt(d) + positional embedding`` (learned, one per
    position, see the module docstring), dropout ``dropout`` on the input, the attention weights
    and each residual branch; the output at the last real position is the single interest (K = 1).

    Choices [ours]: pre-LayerNorm blocks with a final LayerNorm (SASRec's code normalises only
    the queries and adds them as the residual); a query attends to the real items at or before
    it, and a pad query only to itself (it is never attended by a real query, so pads cannot
    reach an output); pad positions are zeroed after every block.
    """

    def __init__(self, n_items: int, dim: int = 64, *, max_len: int = 50, n_blocks: int = 2, n_heads: int = 1,
                 dropout: float = 0.2, init_std: float = 0.1) -> None:
        super().__init__(n_items, dim, 1, max_len, init_std)
        check_int("n_blocks", n_blocks, 1)
        check_int("n_heads", n_heads, 1)
        if dim % n_heads:
            raise ValueError(f"n_heads must divide dim = {dim}; got n_heads = {n_heads}")
        check_float("dropout", dropout, low=0.0, high=1.0, high_open=True)
        self.pos_emb = nn.Embedding(max_len, dim)
        nn.init.normal_(self.pos_emb.weight, std=init_std)
        self.input_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_SelfAttentionBlock(dim, n_heads, dropout) for _ in range(n_blocks))
        self.final_norm = nn.LayerNorm(dim)

    def _run(self, ids: Tensor, mask: Tensor) -> Tensor:
        b, t = ids.shape
        pad = ~mask.unsqueeze(-1)
        x = self._embed(ids, mask) * math.sqrt(self.dim) + self.pos_emb.weight[self._positions(t)]
        x = self.input_drop(x).masked_fill(pad, 0.0)
        eye = torch.eye(t, dtype=torch.bool, device=ids.device)
        causal = torch.ones(t, t, dtype=torch.bool, device=ids.device).tril()
        allowed = (causal & (mask.view(b, 1, 1, t) | eye)).expand(b, 1, t, t)
        for block in self.blocks:
            x = block(x, allowed).masked_fill(pad, 0.0)
        return self.final_norm(x).masked_fill(pad, 0.0)

    def sequence_output(self, history: Tensor, mask: Tensor) -> Tensor:
        """history (B, T), mask (B, T) -> (B, T, d) the last block's output per position, in the
        left-aligned layout (the input's layout for left-padded input), 0 at pads. Position t
        depends on the real items at or before t only."""
        ids, m = self._prepare(history, mask)
        return self._run(ids, m)

    def _encode(self, ids: Tensor, mask: Tensor) -> Interests:
        v = self._run(ids, mask)[:, -1]  # left-aligned: the most recent real item (0 for an empty row)
        return Interests(v.unsqueeze(1), torch.ones(v.shape[0], 1, dtype=torch.bool, device=v.device))
