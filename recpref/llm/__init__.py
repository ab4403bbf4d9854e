"""LLM recommenders: item catalogues and prompts (SPRec's format), here; the modules that need
torch / transformers are imported by name: `recpref.llm.lm` (loading, SmolLM2, tiny models),
`recpref.llm.batches` (token batches), `recpref.llm.grounding` (catalogue trie beam search,
embedding grounding, generation)."""

from recpref.llm.prompts import (
    ALPACA_TEMPLATE,
    ItemCatalog,
    NextItemExample,
    PromptSet,
    PromptStyle,
    TruncationReport,
    alpaca_prompt,
    chat_prompt,
    default_plural,
    render_prompts,
    sprec_completion,
    sprec_input,
    sprec_instruction,
)

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
