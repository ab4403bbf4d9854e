"""Fixtures of the LLM tests: a tiny word-level tokenizer with a chat template (no download).

Test modules import the fixture: ``from llm_fixtures import tiny_tokenizer  # noqa: F401``. This is
not a ``tests/llm/conftest.py``: test directories have no ``__init__.py``, so a second conftest
would replace the ``conftest`` module that ``from conftest import cyclic_interactions`` (e.g.
tests/training/test_valid_history.py) reads, and break collection of the full suite.
"""

from __future__ import annotations

from typing import Any

import pytest

TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_CORPUS = [
    "Given a list of items the user recently enjoys, please recommend a new item that the user may like",
    "The user has played the following items before: please write a new item that the user may bought",
]


def build_tiny_tokenizer() -> Any:
    """A whitespace/punctuation word-level tokenizer trained on SPRec's wording: every word and
    punctuation mark is one token (unknown words -> ``[UNK]``), ``<s>`` is prepended when special
    tokens are added, and the chat template writes ``<|user|>`` / ``<|assistant|>`` headers."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.train_from_iterator(_CORPUS, trainers.WordLevelTrainer(special_tokens=["[UNK]", "<s>", "</s>", "[PAD]"],
                                                                 show_progress=False))
    words.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]", bos_token="<s>",
                                        eos_token="</s>", pad_token="[PAD]")
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    return build_tiny_tokenizer()
