"""Preference losses (recpref.losses.preference) against slow references and against TRL."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
import torch.nn.functional as F

from recpref.losses.preference import dpo_loss, dpo_margins, sdpo_loss, sequence_logprob, sft_loss, token_logprobs


def _reference_logprob(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(logits.shape[0], dtype=torch.float64)
    for b in range(logits.shape[0]):
        for t in range(1, logits.shape[1]):
            if mask[b, t]:
                out[b] += torch.log_softmax(logits[b, t - 1].double(), -1)[tokens[b, t]]
    return out


def _batch(seed: int = 0, b: int = 4, length: int = 9, vocab: int = 13) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, length, vocab, generator=g) * 3
    tokens = torch.randint(0, vocab, (b, length), generator=g)
    mask = torch.zeros(b, length, dtype=torch.bool)
    for row in range(b):  # prompts of different lengths, completions, right padding
        start = 1 + row
        mask[row, start:start + 3] = True
    return logits, tokens, mask


def test_sequence_logprob_equals_reference() -> None:
    logits, tokens, mask = _batch()
    got = sequence_logprob(logits, tokens, mask)
    torch.testing.assert_close(got.double(), _reference_logprob(logits, tokens, mask), rtol=0, atol=1e-5)


def test_prompt_and_padding_never_contribute() -> None:
    logits, tokens, mask = _batch(1)
    before = sequence_logprob(logits, tokens, mask)
    # every logit that predicts a non-completion token, and every non-completion token, replaced
    predicts_other = torch.zeros_like(mask)
    predicts_other[:, :-1] = ~mask[:, 1:]
    predicts_other[:, -1] = True
    logits2 = logits.clone()
    logits2[predicts_other] = float("nan")
    tokens2 = torch.where(mask, tokens, torch.full_like(tokens, -7))  # even invalid ids outside completions
    after = sequence_logprob(logits2, tokens2, mask)
    torch.testing.assert_close(before, after, rtol=0, atol=0)
    per_token = token_logprobs(logits, tokens, mask)
    assert bool((per_token[~mask] == 0).all())


def test_bf16_logits_are_upcast() -> None:
    logits, tokens, mask = _batch(2)
    got = sequence_logprob(logits.bfloat16(), tokens, mask)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), _reference_logprob(logits.bfloat16().float(), tokens, mask),
                               rtol=0, atol=1e-4)


def test_logprob_errors() -> None:
    logits, tokens, mask = _batch()
    bad = mask.clone()
    bad[2, 0] = True
    with pytest.raises(ValueError, match="row 2.*position 0"):
        sequence_logprob(logits, tokens, bad)
    with pytest.raises(ValueError, match="tokens and completion_mask"):
        sequence_logprob(logits, tokens[:, 1:], mask)
    with pytest.raises(ValueError, match="logits must be"):
        sequence_logprob(logits[0], tokens, mask)
    out_of_range = tokens.clone()
    out_of_range[0, 2] = 99
    with pytest.raises(ValueError, match="token id 99"):
        sequence_logprob(logits, out_of_range, mask)
    with pytest.raises(ValueError, match="integer"):
        sequence_logprob(logits, tokens.float(), mask)
    with pytest.raises(ValueError, match="no token"):
        sft_loss(logits, tokens, torch.zeros_like(mask))


def test_sft_loss_is_mean_nll_per_completion_token() -> None:
    logits, tokens, mask = _batch(3)
    expected = -_reference_logprob(logits, tokens, mask).sum() / mask.sum()
    torch.testing.assert_close(sft_loss(logits, tokens, mask).double(), expected, rtol=0, atol=1e-6)
    # what Hugging Face's causal-LM loss computes with the prompt's labels at -100
    labels = torch.where(mask, tokens, torch.full_like(tokens, -100))
    hf = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(sft_loss(logits, tokens, mask), hf, rtol=0, atol=1e-6)


def _logps(seed: int, b: int = 6, n: int | None = None, scale: float = 5.0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    shape = (b,) if n is None else (b, n)
    return (-(torch.rand(b, generator=g) * scale), -(torch.rand(shape, generator=g) * scale),
            -(torch.rand(b, generator=g) * scale), -(torch.rand(shape, generator=g) * scale))


def test_dpo_loss_formula() -> None:
    pc, pr, rc, rr = _logps(0)
    beta = 0.3
    expected = torch.stack([-torch.log(torch.sigmoid(beta * ((pc[i] - rc[i]) - (pr[i] - rr[i]))))
                            for i in range(len(pc))]).mean()
    torch.testing.assert_close(dpo_loss(pc, pr, rc, rr, beta), expected, rtol=0, atol=1e-6)
    assert float(dpo_loss(pc, pr, pc, pr)) == pytest.approx(math.log(2))  # policy == reference
    torch.testing.assert_close(dpo_margins(pc, pr, rc, rr, beta), beta * ((pc - rc) - (pr - rr)))


def test_sdpo_with_one_negative_equals_dpo() -> None:
    pc, pr, rc, rr = _logps(1, n=1)
    for beta in (0.05, 0.1, 1.0):
        torch.testing.assert_close(sdpo_loss(pc, pr, rc, rr, beta), dpo_loss(pc, pr[:, 0], rc, rr[:, 0], beta),
                                   rtol=0, atol=1e-7)


def test_sdpo_equals_naive_form_and_masks_negatives() -> None:
    pc, pr, rc, rr = _logps(2, n=4)
    beta = 0.5
    naive = -torch.log(torch.sigmoid(-torch.log(torch.exp(beta * ((pr - rr) - (pc - rc).unsqueeze(1))).sum(1))))
    torch.testing.assert_close(sdpo_loss(pc, pr, rc, rr, beta), naive.mean(), rtol=0, atol=1e-6)
    mask = torch.ones(pr.shape, dtype=torch.bool)
    mask[:, 2:] = False  # the last two negatives of every row are void: equal to S-DPO over the first two
    torch.testing.assert_close(sdpo_loss(pc, pr, rc, rr, beta, rejected_mask=mask),
                               sdpo_loss(pc, pr[:, :2], rc, rr[:, :2], beta), rtol=0, atol=1e-7)


def test_sdpo_stable_at_large_margins() -> None:
    pc, pr, rc, rr = _logps(3, n=8)
    pr = pr.clone().requires_grad_(True)
    huge = sdpo_loss(pc - 1e4, pr + 1e4, rc, rr, beta=1.0)  # the naive form overflows: exp(2e4)
    assert torch.isfinite(huge) and float(huge) > 1e4 - 10
    huge.backward()
    assert pr.grad is not None and bool(torch.isfinite(pr.grad).all())
    tiny = sdpo_loss(pc + 1e4, pr.detach() - 1e4, rc, rr, beta=1.0)
    assert torch.isfinite(tiny) and 0 <= float(tiny) < 1e-6


def test_preference_loss_errors() -> None:
    pc, pr, rc, rr = _logps(4)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(pc, pr, rc, rr, beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        sdpo_loss(pc, pr.unsqueeze(1), rc, rr.unsqueeze(1), beta=float("nan"))
    with pytest.raises(ValueError, match="shapes differ"):
        dpo_loss(pc, pr[:3], rc, rr)
    with pytest.raises(ValueError, match=r"\(B, N\)"):
        sdpo_loss(pc, pr, rc, rr)
    with pytest.raises(ValueError, match="row 1 has no valid"):
        mask = torch.ones(len(pc), 2, dtype=torch.bool)
        mask[1] = False
        sdpo_loss(pc, torch.stack([pr, pr], 1), rc, torch.stack([rr, rr], 1), rejected_mask=mask)
    with pytest.raises(ValueError, match="B >= 1"):
        dpo_loss(pc[:0], pr[:0], rc[:0], rr[:0])


@pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="trl is not installed")
def test_dpo_loss_equals_trl(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """TRL's DPOTrainer (sigmoid loss) on a tiny Llama and a reference copy, against
    sequence_logprob + dpo_loss on the same model and batch: equal at 1e-6."""
    import copy

    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from recpref.llm.lm import build_tiny_lm

    texts = ['Recommend a book: "Dune"\n', 'Recommend a book: "Emma"\n', '"The Hobbit"\n', '"Ulysses"\n']
    model, tokenizer = build_tiny_lm(texts * 5, seed=3)
    ref = copy.deepcopy(model)
    torch.manual_seed(0)
    with torch.no_grad():  # make policy and reference differ
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    rows = [{"prompt": 'Recommend a book: "Dune", ', "chosen": '"Emma"\n', "rejected": '"The Hobbit"\n'},
            {"prompt": "Next:", "chosen": '"Ulysses"\n', "rejected": '"Dune" and more\n'},
            {"prompt": 'A list "Emma" "Dune" then', "chosen": ' "The Hobbit"', "rejected": '"Emma"'}]
    beta = 0.2
    args = DPOConfig(output_dir=str(tmp_path), beta=beta, loss_type=["sigmoid"], report_to=[],
                     per_device_train_batch_size=3, use_cpu=True, max_length=None)
    trainer = DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
    model.eval()
    ref.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, batch)
        ids, attn, comp = batch["input_ids"], batch["attention_mask"], batch["completion_mask"].bool()
        pol = sequence_logprob(model(input_ids=ids, attention_mask=attn).logits, ids, comp)
        refs = sequence_logprob(ref(input_ids=ids, attention_mask=attn).logits, ids, comp)
    ours = dpo_loss(pol[:3], pol[3:], refs[:3], refs[3:], beta)
    assert abs(float(trl_loss) - float(ours)) < 1e-6
    assert abs(float(ours) - math.log(2)) > 1e-3  # the policy differs from the reference: a real test
