"""Preference losses of the LLM recommenders: completion log-probabilities, SFT, DPO and S-DPO.

Pure functions of logits or log-probabilities -> tensors (no model, no ids, no config). Shapes:
``B`` prompts (or pairs), ``L`` tokens, ``V`` vocabulary, ``N`` rejected completions per prompt.

* `sequence_logprob`: the log-probability of each row's completion under a causal LM, the sum over
  completion tokens of ``log softmax(logits[t-1])[token_t]`` (the logit at position ``t - 1``
  predicts the token at ``t``); prompt and padding positions are masked out and never contribute
  (their values may be anything, even NaN). Chosen and rejected completions are scored by one
  forward over their concatenation, as TRL does.
* `sft_loss`: the mean negative log-likelihood per completion token of a batch (what Hugging Face's
  causal-LM loss gives when the prompt's labels are -100).
* `dpo_loss`: DPO's sigmoid loss ``-log sigmoid(beta [(pi_c - ref_c) - (pi_r - ref_r)])``, batch
  mean, equal to TRL 1.16's ``loss_type="sigmoid"`` (tested against trl where it is installed).
* `sdpo_loss`: S-DPO (Chen et al. 2024), the softmax over ``N`` rejected completions
  ``-log sigmoid(-logsumexp_k beta [(pi_rk - ref_rk) - (pi_c - ref_c)])``, through logsumexp, so it
  stays finite at any margin (S-DPO's own code sums exponentials and overflows); equal to DPO for
  ``N = 1``. Rows may have fewer valid rejected completions (``rejected_mask``).

Log-probabilities are computed in float32 whatever the logits' dtype (bf16 logits are upcast).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["dpo_loss", "dpo_margins", "sdpo_loss", "sequence_logprob", "sft_loss", "token_logprobs"]


def _check_beta(beta: float) -> None:
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")


def token_logprobs(logits: Tensor, tokens: Tensor, completion_mask: Tensor) -> Tensor:
    """logits (B, L, V), tokens (B, L) int, completion_mask (B, L) bool -> (B, L) float32:
    ``log p(tokens[:, t] | tokens[:, :t])`` where ``completion_mask[:, t]`` is True, 0 elsewhere.

    Position 0 has no logit predicting it, so a completion token there is an error (a completion
    needs a prompt, at least a BOS token, before it)."""
    if logits.dim() != 3:
        raise ValueError(f"logits must be (B, L, V); got shape {tuple(logits.shape)}")
    b, length, vocab = logits.shape
    if tokens.shape != (b, length) or completion_mask.shape != (b, length):
        raise ValueError(f"tokens and completion_mask must be (B, L) = {(b, length)}; got {tuple(tokens.shape)} and "
                         f"{tuple(completion_mask.shape)}")
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
        raise ValueError(f"tokens must be an integer tensor; got {tokens.dtype}")
    mask = completion_mask.bool()
    if length and bool(mask[:, 0].any()):
        row = int(torch.nonzero(mask[:, 0])[0])
        raise ValueError(f"row {row}: a completion token at position 0 has no logit predicting it; a completion "
                         "needs at least one prompt token before it")
    out = torch.zeros((b, length), dtype=torch.float32, device=logits.device)
    if length < 2:
        return out
    target_mask = mask[:, 1:]
    targets = tokens[:, 1:]
    bad = target_mask & ((targets < 0) | (targets >= vocab))
    if bool(bad.any()):
        raise ValueError(f"token id {int(targets[bad][0])} out of range [0, {vocab}) at a completion position")
    rows, cols = torch.nonzero(target_mask, as_tuple=True)  # only completion positions are computed
    picked = logits[rows, cols].float()  # (n, V): the logits at t - 1 of each completion token t
    lp = picked.gather(1, targets[rows, cols].unsqueeze(1)).squeeze(1) - torch.logsumexp(picked, dim=1)
    out[rows, cols + 1] = lp
    return out


def sequence_logprob(logits: Tensor, tokens: Tensor, completion_mask: Tensor) -> Tensor:
    """logits (B, L, V), tokens (B, L), completion_mask (B, L) -> (B,) float32: the log-probability
    of each row's completion, summed over its completion tokens (`token_logprobs`)."""
    return token_logprobs(logits, tokens, completion_mask).sum(1)


def sft_loss(logits: Tensor, tokens: Tensor, completion_mask: Tensor) -> Tensor:
    """Mean negative log-likelihood per completion token over the whole batch -> scalar. A batch
    without any completion token is an error (the loss would be 0 / 0)."""
    n = int(completion_mask.bool().sum())
    if n == 0:
        raise ValueError("completion_mask selects no token: nothing to learn from")
    return -token_logprobs(logits, tokens, completion_mask).sum() / n


def _check_same_shape(**tensors: Tensor) -> tuple[int, ...]:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    first = next(iter(shapes.values()))
    if any(s != first for s in shapes.values()):
        raise ValueError("shapes differ: " + ", ".join(f"{k} {v}" for k, v in shapes.items()))
    return first


def dpo_margins(policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor,
                beta: float = 0.1) -> Tensor:
    """(B,) each -> (B,) ``beta [(pi_c - ref_c) - (pi_r - ref_r)]``: the implicit reward margin
    (positive when the policy prefers the chosen completion more than the reference does)."""
    _check_beta(beta)
    shape = _check_same_shape(policy_chosen=policy_chosen, policy_rejected=policy_rejected, ref_chosen=ref_chosen,
                              ref_rejected=ref_rejected)
    if len(shape) != 1 or shape[0] == 0:
        raise ValueError(f"log-probabilities must be (B,) with B >= 1; got {shape}")
    return beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))


def dpo_loss(policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor,
             beta: float = 0.1) -> Tensor:
    """DPO's sigmoid loss, batch mean -> scalar. Inputs: (B,) completion log-probabilities of the
    policy and of the frozen reference (`sequence_logprob`)."""
    return -F.logsigmoid(dpo_margins(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)).mean()


def sdpo_loss(policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor,
              beta: float = 0.1, rejected_mask: Tensor | None = None) -> Tensor:
    """S-DPO, batch mean -> scalar. policy_chosen / ref_chosen (B,), policy_rejected / ref_rejected
    (B, N); ``rejected_mask`` (B, N) bool marks the valid rejected completions (default: all), and
    each row needs at least one. ``N = 1`` gives `dpo_loss` exactly."""
    _check_beta(beta)
    if policy_chosen.dim() != 1 or policy_chosen.shape[0] == 0:
        raise ValueError(f"policy_chosen must be (B,) with B >= 1; got {tuple(policy_chosen.shape)}")
    b = policy_chosen.shape[0]
    _check_same_shape(policy_chosen=policy_chosen, ref_chosen=ref_chosen)
    shape = _check_same_shape(policy_rejected=policy_rejected, ref_rejected=ref_rejected)
    if len(shape) != 2 or shape[0] != b or shape[1] == 0:
        raise ValueError(f"policy_rejected and ref_rejected must be (B, N) = ({b}, N >= 1); got {shape}")
    chosen = (policy_chosen - ref_chosen).unsqueeze(1)
    z = beta * ((policy_rejected - ref_rejected) - chosen)  # (B, N)
    if rejected_mask is not None:
        if rejected_mask.shape != z.shape:
            raise ValueError(f"rejected_mask must be {tuple(z.shape)}; got {tuple(rejected_mask.shape)}")
        valid = rejected_mask.bool()
        empty = ~valid.any(1)
        if bool(empty.any()):
            raise ValueError(f"row {int(torch.nonzero(empty)[0])} has no valid rejected completion")
        z = z.masked_fill(~valid, float("-inf"))
    return -F.logsigmoid(-torch.logsumexp(z, dim=1)).mean()
