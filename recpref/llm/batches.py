"""Token batches for the LLM recommenders: prompt + completion token ids, padded tensors for SFT
and for preference pairs (one chosen and N rejected completions per prompt).

Tokenisation. The prompt and the completion are tokenised separately and concatenated (prompt
tokens, then completion tokens, then EOS), so a completion's tokens are the same whatever prompt
precedes it; that is what the catalogue trie of `recpref.llm.grounding` decodes, and what
generation after the prompt produces. No special tokens are added by the tokenizer here: chat
prompts already carry the template's markers, Alpaca prompts are plain text (a BOS token, when the
tokenizer has one, is put in front of the prompt).

Padding. Training batches are padded on the right (real tokens keep positions 0..n-1; the padded
tail is masked out of attention and of every loss); generation pads on the left (tokenizer side).

Preference batches follow TRL's layout: rows ``0..B-1`` are prompt + chosen, then one block of
``B`` rows per rejected completion (``B..2B-1`` the first rejected, ...), so a model's
``sequence_logprob`` over the batch reshapes to chosen (B,) and rejected (B, N).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["TokenBatch", "collate_preference", "collate_sft", "encode_completions", "encode_prompts"]


@dataclass(frozen=True)
class TokenBatch:
    """input_ids / attention_mask / completion_mask (rows, L); ``n_rejected`` = N for preference
    batches (rows = B (1 + N)), 0 for SFT batches."""

    input_ids: Tensor
    attention_mask: Tensor
    completion_mask: Tensor
    n_rejected: int = 0

    @property
    def n_prompts(self) -> int:
        return self.input_ids.shape[0] // (1 + self.n_rejected)

    def to(self, device: torch.device | str) -> TokenBatch:
        return TokenBatch(self.input_ids.to(device), self.attention_mask.to(device), self.completion_mask.to(device),
                          self.n_rejected)


def encode_prompts(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt (BOS first when the tokenizer has one; no other special token)."""
    bos = tokenizer.bos_token_id
    out = []
    for i, text in enumerate(prompts):
        if not isinstance(text, str) or not text:
            raise ValueError(f"prompt {i} is empty or not a string: {text!r}")
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        out.append(([bos] if bos is not None and (not ids or ids[0] != bos) else []) + ids)
    return out


def encode_completions(tokenizer: PreTrainedTokenizerBase, completions: Sequence[str]) -> list[list[int]]:
    """Token ids of each completion followed by EOS."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no end-of-sequence token: completions could never end")
    out = []
    for i, text in enumerate(completions):
        if not isinstance(text, str) or not text:
            raise ValueError(f"completion {i} is empty or not a string: {text!r}")
        out.append(list(tokenizer(text, add_special_tokens=False)["input_ids"]) + [eos])
    return out


def _pad_right(rows: list[list[int]], prompt_lengths: list[int], pad_id: int,
               max_length: int | None) -> TokenBatch:
    if not rows:
        raise ValueError("no rows to batch")
    if max_length is not None:
        too_long = [i for i, r in enumerate(rows) if len(r) > max_length]
        if too_long:
            raise ValueError(f"row {too_long[0]} has {len(rows[too_long[0]])} tokens > max_length {max_length} "
                             f"({len(too_long)} rows too long); cut histories shorter (render_prompts) or raise "
                             "max_length")
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.int64)
    attn = torch.zeros((len(rows), width), dtype=torch.int64)
    comp = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (row, n_prompt) in enumerate(zip(rows, prompt_lengths)):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
        attn[i, :len(row)] = 1
        comp[i, n_prompt:len(row)] = True
    return TokenBatch(ids, attn, comp)


def collate_sft(prompt_ids: Sequence[list[int]], completion_ids: Sequence[list[int]], pad_id: int,
                max_length: int | None = None) -> TokenBatch:
    """One row per (prompt, completion), right-padded with ``pad_id``."""
    if len(prompt_ids) != len(completion_ids):
        raise ValueError(f"{len(prompt_ids)} prompts but {len(completion_ids)} completions")
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        if not p or not c:
            raise ValueError(f"example {i}: the prompt and the completion each need at least one token")
    rows = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids)]
    return _pad_right(rows, [len(p) for p in prompt_ids], pad_id, max_length)


def collate_preference(prompt_ids: Sequence[list[int]], chosen_ids: Sequence[list[int]],
                       rejected_ids: Sequence[Sequence[list[int]]], pad_id: int,
                       max_length: int | None = None) -> TokenBatch:
    """B prompts, their chosen completions and N rejected completions each (the same N for every
    prompt) -> rows [prompt + chosen (B); prompt + rejected_1 (B); ...; prompt + rejected_N (B)]."""
    b = len(prompt_ids)
    if b == 0:
        raise ValueError("no prompts to batch")
    if len(chosen_ids) != b or len(rejected_ids) != b:
        raise ValueError(f"{b} prompts, {len(chosen_ids)} chosen and {len(rejected_ids)} rejected lists: one each")
    n = len(rejected_ids[0])
    if n == 0 or any(len(r) != n for r in rejected_ids):
        raise ValueError("every prompt needs the same number (>= 1) of rejected completions; got "
                         f"{sorted({len(r) for r in rejected_ids})}")
    prompts = [list(p) for p in prompt_ids]
    completions = [list(c) for c in chosen_ids] + [list(rejected_ids[i][j]) for j in range(n) for i in range(b)]
    batch = collate_sft(prompts * (1 + n), completions, pad_id, max_length)
    return TokenBatch(batch.input_ids, batch.attention_mask, batch.completion_mask, n_rejected=n)
