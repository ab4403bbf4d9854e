"""Token batches and the SFT / DPO / S-DPO Lightning module on a tiny Llama built from a config."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")

from recpref.llm.batches import collate_preference, collate_sft, encode_completions, encode_prompts  # noqa: E402
from recpref.llm.lm import build_tiny_lm, load_causal_lm  # noqa: E402
from recpref.losses.preference import sequence_logprob  # noqa: E402
from recpref.modules.llm import (  # noqa: E402
    LMPreferenceModule,
    _completion_logprobs,
    apply_lora,
    reference_logprobs,
    train_lm,
)

TITLES = ["Dune", "Dune Messiah", "Emma", "The Hobbit", "Ulysses", "Middlemarch"]
PROMPTS = [f'The user has read "{a}", "{b}". Next:' for a, b in zip(TITLES, TITLES[1:] + TITLES[:1])]


@pytest.fixture(scope="module")
def tiny():  # type: ignore[no-untyped-def]
    corpus = PROMPTS + [f'"{t}"\n' for t in TITLES]
    return build_tiny_lm(corpus * 3, vocab_size=400, seed=1)


def test_encode_and_collate_sft(tiny) -> None:  # type: ignore[no-untyped-def]
    _, tok = tiny
    p = encode_prompts(tok, PROMPTS[:2])
    c = encode_completions(tok, ['"Emma"\n', '"Dune"\n'])
    assert p[0][0] == tok.bos_token_id and c[0][-1] == tok.eos_token_id
    batch = collate_sft(p, c, tok.pad_token_id)
    for i in range(2):
        n = len(p[i]) + len(c[i])
        assert batch.input_ids[i, :n].tolist() == p[i] + c[i]
        assert batch.attention_mask[i].tolist() == [1] * n + [0] * (batch.input_ids.shape[1] - n)
        assert batch.completion_mask[i].nonzero().flatten().tolist() == list(range(len(p[i]), n))
    with pytest.raises(ValueError, match="max_length"):
        collate_sft(p, c, tok.pad_token_id, max_length=3)
    with pytest.raises(ValueError, match="prompt 0"):
        encode_prompts(tok, [""])
    with pytest.raises(ValueError, match="2 prompts but 1"):
        collate_sft(p, c[:1], tok.pad_token_id)


def test_collate_preference_layout(tiny) -> None:  # type: ignore[no-untyped-def]
    _, tok = tiny
    p = encode_prompts(tok, PROMPTS[:3])
    chosen = encode_completions(tok, ['"Emma"\n', '"Dune"\n', '"Ulysses"\n'])
    rej = [encode_completions(tok, [f'"{a}"\n', f'"{b}"\n']) for a, b in (("Dune", "Ulysses"), ("Emma", "Dune Messiah"),
                                                                           ("The Hobbit", "Emma"))]
    batch = collate_preference(p, chosen, rej, tok.pad_token_id)
    assert batch.n_rejected == 2 and batch.n_prompts == 3 and batch.input_ids.shape[0] == 9
    for j in range(2):  # block j + 1 holds every prompt's j-th rejected completion
        for i in range(3):
            row = batch.input_ids[3 * (j + 1) + i]
            assert row[:len(p[i]) + len(rej[i][j])].tolist() == p[i] + rej[i][j]
    with pytest.raises(ValueError, match="same number"):
        collate_preference(p, chosen, [rej[0], rej[1][:1], rej[2]], tok.pad_token_id)


def _sft_batches(tok, n_copies: int = 1):  # type: ignore[no-untyped-def]
    p = encode_prompts(tok, PROMPTS)
    c = encode_completions(tok, ['"Emma"\n'] * len(PROMPTS))
    return [collate_sft(p[i:i + 3], c[i:i + 3], tok.pad_token_id) for i in range(0, len(p), 3)] * n_copies


def _sft_loss_now(model, batches) -> float:  # type: ignore[no-untyped-def]
    from recpref.losses.preference import sft_loss

    model.eval()
    with torch.no_grad():
        return float(sum(sft_loss(model(input_ids=b.input_ids, attention_mask=b.attention_mask).logits, b.input_ids,
                                  b.completion_mask) for b in batches))


def test_sft_lowers_the_completion_loss(tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    fresh, _ = load_causal_lm(tmp_path)
    batches = _sft_batches(tok)
    before = _sft_loss_now(fresh, batches)
    train_lm(LMPreferenceModule(fresh, "sft", lr=3e-3), _sft_batches(tok, 10), progress=False, accelerator="cpu")
    after = _sft_loss_now(fresh, batches)
    assert after < 0.5 * before


def _pairs(tok, n_rej: int = 1):  # type: ignore[no-untyped-def]
    p = encode_prompts(tok, PROMPTS)
    chosen = encode_completions(tok, ['"Emma"\n'] * len(p))
    others = [t for t in TITLES if t != "Emma"]  # rejected != chosen (a void pair has no preference)
    rej = [encode_completions(tok, [f'"{others[(i + j) % len(others)]}"\n' for j in (3, 4)][:n_rej])
           for i in range(len(p))]
    return [collate_preference(p[i:i + 3], chosen[i:i + 3], rej[i:i + 3], tok.pad_token_id)
            for i in range(0, len(p), 3)]


@pytest.mark.parametrize("objective,n_rej", [("dpo", 1), ("sdpo", 2)])
def test_dpo_with_lora_prefers_chosen_and_keeps_the_base(tiny, objective, n_rej) -> None:  # type: ignore[no-untyped-def]
    base, tok = tiny
    import copy

    model = apply_lora(copy.deepcopy(base), r=4, alpha=8, dropout=0.0)
    frozen = {k: v.clone() for k, v in model.named_parameters() if not v.requires_grad}
    pairs = reference_logprobs(model, _pairs(tok, n_rej))
    module = LMPreferenceModule(model, objective, lr=5e-3, beta=0.5)
    # at the start the policy is the reference: loss log 2 (DPO) / log(1 + N) (S-DPO)
    model.eval()
    with torch.no_grad():
        c, r = _completion_logprobs(model, pairs[0].tokens)
    torch.testing.assert_close(c, pairs[0].ref_chosen, rtol=0, atol=1e-5)
    train_lm(module, pairs * 8, progress=False, accelerator="cpu")
    with torch.no_grad():
        for pb in pairs:
            c, r = _completion_logprobs(model, pb.tokens)
            margin = (c - pb.ref_chosen).unsqueeze(1) - (r - pb.ref_rejected)
            assert bool((margin > 0).all())  # the policy moved toward the chosen completions
    for k, v in model.named_parameters():
        if not v.requires_grad:
            assert torch.equal(v, frozen[k]), k  # LoRA: the base weights never change
    assert math.isfinite(float(c.sum()))


def test_objective_checks(tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    with pytest.raises(ValueError, match="objective must be one of sft, dpo, sdpo"):
        LMPreferenceModule(model, "ppo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta"):
        LMPreferenceModule(model, "dpo", beta=0)
    pairs = reference_logprobs(model, _pairs(tok, 2))
    with pytest.raises(ValueError, match="one rejected completion"):
        LMPreferenceModule(model, "dpo").training_step(pairs[0], 0)
    with pytest.raises(TypeError, match="SFT TokenBatches"):
        LMPreferenceModule(model, "sft").training_step(pairs[0], 0)
    with pytest.raises(ValueError, match="no batches"):
        train_lm(LMPreferenceModule(model, "sft"), [], progress=False)
    with pytest.raises(ValueError, match="none of the LoRA targets"):
        apply_lora(model, targets=("nope",))


def test_reference_logprobs_match_a_plain_forward(tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    batch = _pairs(tok, 2)[0]
    pb = reference_logprobs(model, [batch])[0]
    with torch.no_grad():
        logps = sequence_logprob(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits,
                                 batch.input_ids, batch.completion_mask)
    torch.testing.assert_close(pb.ref_chosen, logps[:3])
    torch.testing.assert_close(pb.ref_rejected, torch.stack([logps[3:6], logps[6:9]], 1))
