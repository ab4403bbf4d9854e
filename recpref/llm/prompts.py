"""Item catalogues, next-item examples and their prompts for LLM recommenders (SPRec's format).

A causal LM is prompted with a user's recent item titles and generates the next item's title.

* **Wording** (SPRec, ``RegionCh/SPRec@5fec95b`` ``data/Goodreads/train.json``; SPRec reuses
  BIGRec's format). Instruction: ``Given a list of {noun_plural} the user recently enjoys, please
  recommend a new {noun} that the user may like``. Input: ``The user has played the following
  {noun_plural} before: "T1", "T2", ..., please write a new {noun} that the user may bought``
  (titles oldest first, each in double quotes, joined by ``", "``; "played" and "may bought" are
  kept verbatim for every dataset). Completion: the target's title in double quotes plus
  ``"\\n"``. SPRec's Goodreads file writes the plural in both places ("a new books"): pass
  ``noun="books"``; `default_plural` then keeps "books", so the rendering equals the file's text.
* **Styles.** ``"alpaca"`` (base models) wraps instruction and input in the Alpaca prompt that
  SPRec's generation code uses (`generate_prompt` in ``train/data_generate.py`` and
  ``eval/inference.py``), `ALPACA_TEMPLATE`; its first line ends in two spaces, as there. SPRec is
  not consistent across stages: its SFT script (``train/sft.py``) builds the same wrapper from an
  indented f-string (16 spaces before each line, blank lines of spaces), and its DPO pairs use the
  bare ``instruction + input`` as the prompt. recpref uses the generation prompt for every stage,
  so training and inference see the same text. ``"chat"`` (instruct models) renders one user turn
  ``instruction + "\\n" + input`` through ``tokenizer.apply_chat_template(...,
  add_generation_prompt=True)``. Both styles share the completion; the caller appends EOS.
* **Truncation, never silent.** A history longer than ``max_history`` keeps its most recent
  ``max_history`` items. With ``max_prompt_tokens`` the oldest remaining title is then dropped, one
  at a time, while the rendered prompt has more tokens than that; a prompt that does not fit with
  a single history item raises ``ValueError``. Both kinds of cut are counted in
  `TruncationReport`. Token counts are what the model is fed for the prompt: Alpaca prompts are
  tokenized with the tokenizer's special tokens (BOS, as SPRec's generation does), chat prompts
  without (the chat template already writes them as text). The completion is not counted.

transformers is never imported here: a tokenizer is passed in by the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "ALPACA_TEMPLATE",
    "ItemCatalog",
    "NextItemExample",
    "PromptSet",
    "PromptStyle",
    "TruncationReport",
    "alpaca_prompt",
    "chat_prompt",
    "default_plural",
    "render_prompts",
    "sprec_completion",
    "sprec_input",
    "sprec_instruction",
]

logger = logging.getLogger(__name__)

PromptStyle = Literal["alpaca", "chat"]
"""``alpaca``: SPRec's Alpaca wrapper, for base models. ``chat``: the tokenizer's chat template."""
_STYLES: tuple[str, ...] = get_args(PromptStyle)

ALPACA_TEMPLATE = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.  \n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
"""SPRec's generation prompt (``generate_prompt`` with an input, ``train/data_generate.py``)."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    return value


# ----------------------------------------------------------------------------- catalogue, examples
@dataclass(frozen=True)
class ItemCatalog:
    """Item index -> title (and optional genres and raw ids); the space LLM outputs are grounded to.

    ``titles[i]`` is the title of item index ``i``: non-empty, one line (a completion ends at its
    newline) and unique (titles identify items in prompts and generations). ``genres[i]`` holds
    the genre ids of item ``i`` (indices into ``genre_names``; may be empty); ``genres`` and
    ``genre_names`` come together or not at all. ``item_ids[i]`` is item ``i``'s raw id in the
    source files (optional, unique). Lists are accepted and stored as tuples.
    """

    titles: tuple[str, ...]
    genres: tuple[tuple[int, ...], ...] | None = None
    genre_names: tuple[str, ...] | None = None
    item_ids: tuple[str, ...] | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        titles = tuple(self.titles)
        index: dict[str, int] = {}
        for i, title in enumerate(titles):
            if not isinstance(title, str) or not title.strip():
                raise ValueError(f"title of item {i} must be a non-empty string; got {title!r}")
            if "\n" in title or "\r" in title:
                raise ValueError(f"title of item {i} spans several lines: {title!r}")
            if title in index:
                raise ValueError(f"duplicate title {title!r}: items {index[title]} and {i}")
            index[title] = i
        object.__setattr__(self, "titles", titles)
        object.__setattr__(self, "_index", index)
        if (self.genres is None) != (self.genre_names is None):
            raise ValueError("genres and genre_names come together: pass both or neither")
        if self.genres is not None and self.genre_names is not None:
            names = tuple(self.genre_names)
            for g, name in enumerate(names):
                _check_text(f"genre_names[{g}]", name)
            if len(set(names)) != len(names):
                dup = next(n for n in names if names.count(n) > 1)
                raise ValueError(f"duplicate genre name {dup!r}")
            genres = tuple(tuple(gs) for gs in self.genres)
            if len(genres) != len(titles):
                raise ValueError(f"genres has {len(genres)} entries for {len(titles)} titles")
            for i, gs in enumerate(genres):
                bad = [g for g in gs if not _is_int(g) or not 0 <= g < len(names)]
                if bad:
                    raise ValueError(f"item {i} ({titles[i]!r}) has genre id(s) {bad} outside 0..{len(names) - 1}")
            object.__setattr__(self, "genre_names", names)
            object.__setattr__(self, "genres", genres)
        if self.item_ids is not None:
            ids = tuple(self.item_ids)
            if len(ids) != len(titles):
                raise ValueError(f"item_ids has {len(ids)} entries for {len(titles)} titles")
            seen: dict[str, int] = {}
            for i, raw in enumerate(ids):
                if not isinstance(raw, str):
                    raise ValueError(f"item_ids[{i}] must be a string; got {raw!r}")
                if raw in seen:
                    raise ValueError(f"duplicate item id {raw!r}: items {seen[raw]} and {i}")
                seen[raw] = i
            object.__setattr__(self, "item_ids", ids)

    def __len__(self) -> int:
        return len(self.titles)

    @property
    def n_items(self) -> int:
        return len(self.titles)

    def index_of(self, title: str) -> int:
        """The item index of ``title`` (exact match). KeyError naming the title when unknown."""
        try:
            return self._index[title]
        except (KeyError, TypeError):
            raise KeyError(f"title {title!r} is not in the catalogue ({len(self)} items)") from None

    def __contains__(self, title: object) -> bool:
        return isinstance(title, str) and title in self._index


@dataclass(frozen=True)
class NextItemExample:
    """One next-item example: ``history`` item indices oldest first (non-empty), ``target`` the
    item that follows. ``user`` names the user (unique per user, not necessarily per example)."""

    user: str
    history: tuple[int, ...]
    target: int

    def __post_init__(self) -> None:
        _check_text("user", self.user)
        history = tuple(self.history)
        if not history:
            raise ValueError(f"user {self.user!r}: history is empty; a prompt needs at least one item")
        bad = [i for i in history if not _is_int(i) or i < 0]
        if bad:
            raise ValueError(f"user {self.user!r}: history holds {bad}, not item indices >= 0")
        if not _is_int(self.target) or self.target < 0:
            raise ValueError(f"user {self.user!r}: target {self.target!r} is not an item index >= 0")
        object.__setattr__(self, "history", history)


# ----------------------------------------------------------------------------- wording
def default_plural(noun: str) -> str:
    """``noun + "s"``, or ``noun`` itself when it already ends in "s" (SPRec's Goodreads wording
    uses "books" in both places, so ``noun="books"`` reproduces it)."""
    _check_text("noun", noun)
    return noun if noun.endswith("s") else noun + "s"


def _plural(noun: str, noun_plural: str | None) -> str:
    return default_plural(noun) if noun_plural is None else _check_text("noun_plural", noun_plural)


def sprec_instruction(noun: str = "item", noun_plural: str | None = None) -> str:
    """SPRec's instruction for the noun (see the module docstring)."""
    _check_text("noun", noun)
    return (f"Given a list of {_plural(noun, noun_plural)} the user recently enjoys, "
            f"please recommend a new {noun} that the user may like")


def sprec_input(titles: Sequence[str], noun: str = "item", noun_plural: str | None = None) -> str:
    """SPRec's input: the quoted ``titles`` (oldest first) inside its fixed sentence."""
    _check_text("noun", noun)
    if isinstance(titles, str) or not titles:
        raise ValueError(f"titles must be a non-empty sequence of titles; got {titles!r}")
    listed = ", ".join(f'"{t}"' for t in titles)
    return (f"The user has played the following {_plural(noun, noun_plural)} before: {listed}, "
            f"please write a new {noun} that the user may bought")


def sprec_completion(title: str) -> str:
    """The target in double quotes plus a newline (SPRec's ``output``); no EOS."""
    return f'"{_check_text("title", title)}"\n'


def alpaca_prompt(instruction: str, input: str) -> str:  # noqa: A002 - Alpaca's field name
    """`ALPACA_TEMPLATE` filled in: ends with ``"### Response:\\n"``, where the completion starts."""
    return ALPACA_TEMPLATE.format(instruction=instruction, input=input)


def chat_prompt(tokenizer: PreTrainedTokenizerBase, instruction: str, input: str) -> str:  # noqa: A002
    """One user turn ``instruction + "\\n" + input`` through the tokenizer's chat template, with
    the assistant's generation prompt appended."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(f"{type(tokenizer).__name__} has no chat_template; use style='alpaca' or set one")
    text = tokenizer.apply_chat_template([{"role": "user", "content": instruction + "\n" + input}],
                                         tokenize=False, add_generation_prompt=True)
    if not isinstance(text, str):
        raise TypeError(f"apply_chat_template(tokenize=False) returned {type(text).__name__}, expected str")
    return text


# ----------------------------------------------------------------------------- rendering
@dataclass(frozen=True)
class TruncationReport:
    """How many histories `render_prompts` cut. ``n_cut_by_max_history`` examples had more than
    ``max_history`` items (``n_titles_cut_by_max_history`` items dropped in all, the oldest);
    ``n_cut_by_tokens`` examples then lost ``n_titles_cut_by_tokens`` more of their oldest titles
    to fit ``max_prompt_tokens``."""

    n_examples: int
    max_history: int
    max_prompt_tokens: int | None
    n_cut_by_max_history: int
    n_titles_cut_by_max_history: int
    n_cut_by_tokens: int
    n_titles_cut_by_tokens: int
    n_truncated: int
    """Examples whose prompt shows fewer items than their history holds (cut either way)."""

    def summary(self) -> str:
        tokens = ("no token limit" if self.max_prompt_tokens is None else
                  f"{self.n_cut_by_tokens} cut further to fit {self.max_prompt_tokens} prompt tokens "
                  f"({self.n_titles_cut_by_tokens} titles)")
        return (f"{self.n_examples} prompts: {self.n_cut_by_max_history} histories cut to the last "
                f"{self.max_history} items ({self.n_titles_cut_by_max_history} items dropped); {tokens}")


@dataclass(frozen=True)
class PromptSet:
    """Rendered prompts, aligned by position: ``prompts[k]`` + ``completions[k]`` is the training
    text of ``examples[k]`` (the caller appends EOS); ``histories[k]`` the item indices prompt
    ``k`` shows, oldest first, after truncation."""

    style: PromptStyle
    prompts: list[str]
    completions: list[str]
    examples: list[NextItemExample]
    histories: list[tuple[int, ...]]
    truncation: TruncationReport

    def __len__(self) -> int:
        return len(self.prompts)

    def summary(self) -> str:
        return f"{self.style} {self.truncation.summary()}"


def _count_tokens(tokenizer: PreTrainedTokenizerBase, text: str, style: PromptStyle) -> int:
    ids = tokenizer(text, add_special_tokens=style == "alpaca")["input_ids"]
    return len(ids)


def _validate(style: str, tokenizer: object, max_history: int, max_prompt_tokens: int | None) -> None:
    if style not in _STYLES:
        raise ValueError(f"style must be one of {', '.join(map(repr, _STYLES))}; got {style!r}")
    if not _is_int(max_history) or max_history < 1:
        raise ValueError(f"max_history must be an integer >= 1; got {max_history!r}")
    if max_prompt_tokens is not None and (not _is_int(max_prompt_tokens) or max_prompt_tokens < 1):
        raise ValueError(f"max_prompt_tokens must be None or an integer >= 1; got {max_prompt_tokens!r}")
    if tokenizer is None and style == "chat":
        raise ValueError("style='chat' needs the tokenizer (its chat template renders the prompt)")
    if tokenizer is None and max_prompt_tokens is not None:
        raise ValueError("max_prompt_tokens needs the tokenizer that counts the tokens")


def render_prompts(examples: Sequence[NextItemExample], catalog: ItemCatalog, *, style: PromptStyle,
                   tokenizer: PreTrainedTokenizerBase | None = None, max_history: int = 10,
                   max_prompt_tokens: int | None = None, noun: str = "item",
                   noun_plural: str | None = None) -> PromptSet:
    """Prompt and completion for each example in SPRec's wording (module docstring).

    ``tokenizer`` is required for ``style="chat"`` and for ``max_prompt_tokens``. ``max_history``
    (>= 1) keeps each history's most recent items; ``max_prompt_tokens`` then drops the oldest
    titles one at a time until the prompt fits, and raises ValueError naming the example when one
    title is still too many. Every cut is counted in the result's ``truncation``. Raises
    ValueError for a bad argument and for an item index outside the catalogue.
    """
    _validate(style, tokenizer, max_history, max_prompt_tokens)
    instruction = sprec_instruction(noun, noun_plural)
    n_items = len(catalog)

    def render(history: tuple[int, ...]) -> str:
        text = sprec_input([catalog.titles[i] for i in history], noun, noun_plural)
        if style == "alpaca":
            return alpaca_prompt(instruction, text)
        assert tokenizer is not None
        return chat_prompt(tokenizer, instruction, text)

    prompts: list[str] = []
    completions: list[str] = []
    shown: list[tuple[int, ...]] = []
    cut_hist = titles_hist = cut_tok = titles_tok = both = 0
    for k, ex in enumerate(examples):
        if not isinstance(ex, NextItemExample):
            raise TypeError(f"examples[{k}] is a {type(ex).__name__}, not a NextItemExample")
        bad = [i for i in (*ex.history, ex.target) if i >= n_items]
        if bad:
            raise ValueError(f"example {k} (user {ex.user!r}) refers to item index(es) {bad}; "
                             f"the catalogue has {n_items} items (0..{n_items - 1})")
        history = ex.history
        if len(history) > max_history:
            cut_hist += 1
            titles_hist += len(history) - max_history
            history = history[-max_history:]
        prompt = render(history)
        if max_prompt_tokens is not None:
            assert tokenizer is not None
            dropped = 0
            while (n_tokens := _count_tokens(tokenizer, prompt, style)) > max_prompt_tokens:
                if len(history) == 1:
                    raise ValueError(
                        f"example {k} (user {ex.user!r}): the prompt has {n_tokens} tokens with a single history "
                        f"item ({catalog.titles[history[0]]!r}), over max_prompt_tokens={max_prompt_tokens}")
                history = history[1:]
                dropped += 1
                prompt = render(history)
            if dropped:
                cut_tok += 1
                titles_tok += dropped
                both += len(ex.history) > max_history
        prompts.append(prompt)
        completions.append(sprec_completion(catalog.titles[ex.target]))
        shown.append(history)
    report = TruncationReport(len(prompts), max_history, max_prompt_tokens, cut_hist, titles_hist, cut_tok,
                              titles_tok, n_truncated=cut_hist + cut_tok - both)
    if report.n_truncated:
        logger.info("render_prompts: %s", report.summary())
    return PromptSet(style, prompts, completions, list(examples), shown, report)
