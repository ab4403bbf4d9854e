"""Softmax-family losses: slow-reference values/gradients, stability, signs, log-Q correction, validation."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from recpref.losses.softmax import ccl_loss, directau_loss, full_softmax_loss, sampled_softmax_loss

D = torch.float64
TOL = 1e-10


# --------------------------------------------------------------------------- slow references
def ref_sampled_softmax(
    pos: torch.Tensor,
    neg: torch.Tensor,
    temperature: float = 1.0,
    log_q: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    b_size, n = neg.shape
    total = pos.new_zeros(())
    for b in range(b_size):
        z = torch.exp(pos[b] / temperature)
        for j in range(n):
            if mask is not None and bool(mask[b, j]):
                continue
            offset = 0.0 if log_q is None else log_q.expand(b_size, n)[b, j] + math.log(n)
            z = z + torch.exp(neg[b, j] / temperature - offset)
        term = torch.log(z) - pos[b] / temperature
        total = total + (term if weight is None else weight[b] * term)
    return total / b_size


def ref_full_softmax(scores: torch.Tensor, pos_items: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    b_size, n_items = scores.shape
    total = scores.new_zeros(())
    for b in range(b_size):
        z = scores.new_zeros(())
        for i in range(n_items):
            z = z + torch.exp(scores[b, i] / temperature)
        total = total - torch.log(torch.exp(scores[b, int(pos_items[b])] / temperature) / z)
    return total / b_size


def ref_ccl(pos_cos: torch.Tensor, neg_cos: torch.Tensor, margin: float, negative_weight: float) -> torch.Tensor:
    b_size, n = neg_cos.shape
    total = pos_cos.new_zeros(())
    for b in range(b_size):
        hinge = pos_cos.new_zeros(())
        for j in range(n):
            if neg_cos[b, j] > margin:
                hinge = hinge + (neg_cos[b, j] - margin)
        total = total + (1 - pos_cos[b]) + negative_weight / n * hinge
    return total / b_size


def _ref_normalise(x: torch.Tensor) -> list[torch.Tensor]:
    rows = []
    for a in range(x.shape[0]):
        norm_sq = x.new_zeros(())
        for k in range(x.shape[1]):
            norm_sq = norm_sq + x[a, k] ** 2
        rows.append(x[a] / torch.sqrt(norm_sq))
    return rows


def ref_uniformity(rows: list[torch.Tensor], t: float) -> torch.Tensor:
    acc, count = rows[0].new_zeros(()), 0
    for a in range(len(rows)):
        for b in range(a + 1, len(rows)):
            dist_sq = rows[0].new_zeros(())
            for k in range(rows[a].shape[0]):
                dist_sq = dist_sq + (rows[a][k] - rows[b][k]) ** 2
            acc = acc + torch.exp(-t * dist_sq)
            count += 1
    return torch.log(acc / count)


def ref_directau(user: torch.Tensor, item: torch.Tensor, gamma: float, t: float) -> torch.Tensor:
    u, i = _ref_normalise(user), _ref_normalise(item)
    align = user.new_zeros(())
    for b in range(len(u)):
        for k in range(u[b].shape[0]):
            align = align + (u[b][k] - i[b][k]) ** 2
    align = align / len(u)
    return align + gamma * (ref_uniformity(u, t) + ref_uniformity(i, t)) / 2


def _assert_same_value_and_grad(
    fast: Callable[..., torch.Tensor], slow: Callable[..., torch.Tensor], *inputs: torch.Tensor
) -> None:
    leaves = [x.clone().requires_grad_(True) for x in inputs]
    f, s = fast(*leaves), slow(*leaves)
    f_val, s_val = float(f.detach()), float(s.detach())
    assert f.shape == () and abs(f_val - s_val) < TOL, (f_val, s_val)
    gf = torch.autograd.grad(f, leaves)
    gs = torch.autograd.grad(s, leaves)
    for a, b in zip(gf, gs):
        assert torch.allclose(a, b, rtol=0, atol=TOL), (a - b).abs().max()


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- values and gradients
@pytest.mark.parametrize("temperature", [1.0, 0.2, 3.0])
@pytest.mark.parametrize("log_q_shape", [None, (7,), (4, 7), (4, 1)])
def test_sampled_softmax_matches_reference(temperature: float, log_q_shape: tuple[int, ...] | None) -> None:
    g = _gen(1)
    pos, neg = torch.randn(4, generator=g, dtype=D), torch.randn(4, 7, generator=g, dtype=D)
    weight = torch.rand(4, generator=g, dtype=D)
    log_q = None if log_q_shape is None else torch.log(torch.rand(log_q_shape, generator=g, dtype=D) * 0.1)
    for w in (None, weight):
        _assert_same_value_and_grad(
            lambda p, n: sampled_softmax_loss(p, n, temperature=temperature, log_q=log_q, weight=w),
            lambda p, n: ref_sampled_softmax(p, n, temperature, log_q, w),
            pos,
            neg,
        )


def test_sampled_softmax_gradient_through_log_q_matches_reference() -> None:
    # log_q is data (a proposal), but a differentiable log_q is allowed and matches the reference.
    g = _gen(2)
    pos, neg, log_q = torch.randn(3, generator=g, dtype=D), torch.randn(3, 5, generator=g, dtype=D), -torch.rand(5, generator=g, dtype=D)
    _assert_same_value_and_grad(
        lambda p, n, lq: sampled_softmax_loss(p, n, log_q=lq),
        lambda p, n, lq: ref_sampled_softmax(p, n, 1.0, lq),
        pos,
        neg,
        log_q,
    )


def test_sampled_softmax_1d_negatives_is_n_equals_1() -> None:
    pos, neg = torch.tensor([0.3, -1.0], dtype=D), torch.tensor([0.1, 2.0], dtype=D)
    assert torch.allclose(sampled_softmax_loss(pos, neg), sampled_softmax_loss(pos, neg.unsqueeze(-1)))
    # N = 1, no correction: softmax over two = softplus(neg - pos), i.e. BPR
    assert torch.allclose(sampled_softmax_loss(pos, neg), torch.nn.functional.softplus(neg - pos).mean())


@pytest.mark.parametrize("log_q_shape", [None, (), (7,), (4, 7)])
def test_sampled_softmax_mask_matches_reference(log_q_shape: tuple[int, ...] | None) -> None:
    # masked negatives leave the softmax; log N still counts every drawn negative
    g = _gen(11)
    pos, neg = torch.randn(4, generator=g, dtype=D), torch.randn(4, 7, generator=g, dtype=D) * 2
    mask = torch.rand(4, 7, generator=g) < 0.4
    mask[0] = True  # a row with every negative masked: only the positive is left, loss 0
    log_q = None if log_q_shape is None else torch.log(torch.rand(log_q_shape, generator=g, dtype=D) * 0.1)
    weight = torch.rand(4, generator=g, dtype=D)
    for w in (None, weight):
        _assert_same_value_and_grad(
            lambda p, n: sampled_softmax_loss(p, n, temperature=0.6, log_q=log_q, weight=w, mask=mask),
            lambda p, n: ref_sampled_softmax(p, n, 0.6, log_q, w, mask),
            pos,
            neg,
        )
    leaves = [pos.clone().requires_grad_(True), neg.clone().requires_grad_(True)]
    grad_neg = torch.autograd.grad(sampled_softmax_loss(*leaves, mask=mask), leaves)[1]
    assert torch.equal(grad_neg[mask], torch.zeros(int(mask.sum()), dtype=D))


def test_sampled_softmax_hand_written_backward_matches_autograd_path() -> None:
    # a weight that requires grad takes the autograd path: both paths agree in float32 on a big block
    g = _gen(12)
    pos, neg = torch.randn(64, generator=g) * 3, torch.randn(64, 500, generator=g) * 3
    mask, log_q = torch.rand(64, 500, generator=g) < 0.01, torch.tensor(-math.log(9000.0))
    leaves = [pos.clone().requires_grad_(True), neg.clone().requires_grad_(True)]
    w_plain, w_grad = torch.ones(64), torch.ones(64, requires_grad=True)
    fast = sampled_softmax_loss(*leaves, temperature=0.3, log_q=log_q, mask=mask, weight=w_plain)
    slow = sampled_softmax_loss(*leaves, temperature=0.3, log_q=log_q, mask=mask, weight=w_grad)
    assert slow.grad_fn is not None and "Mean" in type(slow.grad_fn).__name__
    assert "SoftmaxOverNegatives" in type(fast.grad_fn).__name__
    assert torch.allclose(fast, slow, rtol=1e-6, atol=0)
    for a, b in zip(torch.autograd.grad(fast, leaves), torch.autograd.grad(slow, leaves)):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-9)


def test_sampled_softmax_rejects_bad_mask() -> None:
    pos, neg = torch.zeros(3), torch.zeros(3, 4)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        sampled_softmax_loss(pos, neg, mask=torch.zeros(3, 4))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        sampled_softmax_loss(pos, neg, mask=torch.zeros(3, 5, dtype=torch.bool))


def test_shared_pool_log_q_broadcasts_like_expanded() -> None:
    g = _gen(3)
    pos, neg, log_q = torch.randn(4, generator=g, dtype=D), torch.randn(4, 6, generator=g, dtype=D), -torch.rand(6, generator=g, dtype=D) - 1
    a = sampled_softmax_loss(pos, neg, log_q=log_q)
    b = sampled_softmax_loss(pos, neg, log_q=log_q.expand(4, 6).clone())
    assert torch.equal(a, b)
    assert not torch.allclose(a, sampled_softmax_loss(pos, neg))


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.5])
def test_full_softmax_matches_reference(temperature: float) -> None:
    g = _gen(4)
    scores = torch.randn(5, 9, generator=g, dtype=D) * 2
    pos_items = torch.tensor([0, 8, 3, 3, 5])
    _assert_same_value_and_grad(
        lambda s: full_softmax_loss(s, pos_items, temperature=temperature),
        lambda s: ref_full_softmax(s, pos_items, temperature),
        scores,
    )
    assert torch.allclose(
        full_softmax_loss(scores, pos_items, temperature=temperature),
        torch.nn.functional.cross_entropy(scores / temperature, pos_items),
        rtol=0,
        atol=TOL,
    )


def test_full_softmax_weight() -> None:
    g = _gen(5)
    scores, pos_items, w = torch.randn(3, 6, generator=g, dtype=D), torch.tensor([1, 2, 0]), torch.tensor([0.5, 0.0, 2.0], dtype=D)
    per = torch.stack([full_softmax_loss(scores[b : b + 1], pos_items[b : b + 1]) for b in range(3)])
    assert torch.allclose(full_softmax_loss(scores, pos_items, weight=w), (w * per).mean(), rtol=0, atol=TOL)


@pytest.mark.parametrize(("margin", "negative_weight"), [(0.5, 10.0), (0.9, 1.0), (-0.2, 3.0), (0.0, 0.0)])
def test_ccl_matches_reference(margin: float, negative_weight: float) -> None:
    g = _gen(6)
    pos_cos = torch.rand(6, generator=g, dtype=D) * 2 - 1
    neg_cos = torch.rand(6, 11, generator=g, dtype=D) * 2 - 1
    _assert_same_value_and_grad(
        lambda p, n: ccl_loss(p, n, margin=margin, negative_weight=negative_weight),
        lambda p, n: ref_ccl(p, n, margin, negative_weight),
        pos_cos,
        neg_cos,
    )


def test_ccl_weight_and_1d_negatives() -> None:
    pos_cos, neg_cos = torch.tensor([0.9, 0.2], dtype=D), torch.tensor([0.8, 0.1], dtype=D)
    assert torch.allclose(ccl_loss(pos_cos, neg_cos), ccl_loss(pos_cos, neg_cos.unsqueeze(-1)))
    w = torch.tensor([2.0, 0.0], dtype=D)
    # only row 0 counts: 2 * ((1 - 0.9) + 10 * (0.8 - 0.5)) / 2
    assert abs(float(ccl_loss(pos_cos, neg_cos, weight=w)) - (0.1 + 10 * 0.3)) < TOL


@pytest.mark.parametrize(("gamma", "t"), [(1.0, 2.0), (0.3, 1.0), (0.0, 5.0)])
def test_directau_matches_reference(gamma: float, t: float) -> None:
    g = _gen(7)
    user = torch.randn(5, 3, generator=g, dtype=D) * 3
    item = torch.randn(5, 3, generator=g, dtype=D) * 0.2
    _assert_same_value_and_grad(
        lambda u, i: directau_loss(u, i, gamma=gamma, t=t),
        lambda u, i: ref_directau(u, i, gamma, t),
        user,
        item,
    )


# --------------------------------------------------------------------------- stability
def test_all_losses_finite_at_extremes() -> None:
    pos = torch.tensor([50.0, -50.0, 50.0], dtype=D, requires_grad=True)
    neg = torch.tensor([[-50.0, 50.0], [50.0, 50.0], [50.0, -50.0]], dtype=D, requires_grad=True)
    log_q = torch.log(torch.tensor([1e-6, 0.5], dtype=D))
    losses = [
        sampled_softmax_loss(pos, neg),
        sampled_softmax_loss(pos, neg, temperature=0.05),
        sampled_softmax_loss(pos, neg, log_q=log_q, temperature=0.05),
        full_softmax_loss(torch.cat([pos.unsqueeze(-1), neg], -1), torch.zeros(3, dtype=torch.long), temperature=0.05),
        ccl_loss(pos, neg),
    ]
    for loss in losses:
        grads = torch.autograd.grad(loss, [pos, neg])
        assert torch.isfinite(loss) and all(torch.isfinite(x).all() for x in grads)
    # all logits equal-and-huge: softmax over 3 equal logits
    same = sampled_softmax_loss(torch.full((1,), 50.0, dtype=D), torch.full((1, 2), 50.0, dtype=D))
    assert abs(float(same) - math.log(3)) < TOL
    emb = torch.tensor([[50.0, -50.0], [-50.0, 50.0], [50.0, 50.0]], dtype=D, requires_grad=True)
    loss = directau_loss(emb, emb * 1e3, t=50.0)
    (grad,) = torch.autograd.grad(loss, [emb])
    assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_float32_extremes_do_not_overflow() -> None:
    pos = torch.full((2,), 50.0, requires_grad=True)
    neg = torch.full((2, 4), -50.0, requires_grad=True)
    loss = sampled_softmax_loss(pos, neg, temperature=0.01)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()  # type: ignore[arg-type]


# --------------------------------------------------------------------------- gradient signs
def test_softmax_gradient_signs() -> None:
    pos = torch.tensor([0.3, -1.0, 2.0], dtype=D, requires_grad=True)
    neg = torch.tensor([[0.1, 2.0], [-3.0, 0.0], [1.0, 1.5]], dtype=D, requires_grad=True)
    for log_q in (None, torch.log(torch.tensor([0.1, 0.6], dtype=D))):
        gp, gn = torch.autograd.grad(sampled_softmax_loss(pos, neg, log_q=log_q, temperature=0.7), [pos, neg])
        assert (gp < 0).all() and (gn > 0).all()
    scores = torch.randn(3, 5, dtype=D, generator=_gen(8)).requires_grad_(True)
    pos_items = torch.tensor([4, 0, 2])
    (gs,) = torch.autograd.grad(full_softmax_loss(scores, pos_items), [scores])
    is_pos = torch.nn.functional.one_hot(pos_items, 5).bool()
    assert (gs[is_pos] < 0).all() and (gs[~is_pos] > 0).all()


def test_ccl_gradient_signs_and_hinge() -> None:
    pos_cos = torch.tensor([0.2, 0.9], dtype=D, requires_grad=True)
    neg_cos = torch.tensor([[0.7, 0.3, 0.5], [-0.9, 0.95, 0.49]], dtype=D, requires_grad=True)
    gp, gn = torch.autograd.grad(ccl_loss(pos_cos, neg_cos, margin=0.5), [pos_cos, neg_cos])
    assert (gp < 0).all()
    above = neg_cos.detach() > 0.5
    assert (gn[above] > 0).all() and (gn[~above] == 0).all()
    # negatives at or below the margin contribute nothing to the value either
    p, n = pos_cos.detach(), neg_cos.detach()
    below = torch.tensor([[0.5, 0.3, -1.0], [0.0, 0.49, 0.1]], dtype=D)
    assert abs(float(ccl_loss(p, below, margin=0.5)) - float((1 - p).mean())) < TOL
    # with negative_weight = 0 only the positive term remains
    assert abs(float(ccl_loss(p, n, negative_weight=0.0)) - float((1 - p).mean())) < TOL


# --------------------------------------------------------------------------- temperature
def test_temperature_scaling() -> None:
    g = _gen(9)
    pos, neg = torch.randn(4, generator=g, dtype=D), torch.randn(4, 6, generator=g, dtype=D)
    log_q = torch.log(torch.rand(6, generator=g, dtype=D))
    for t in (0.1, 0.5, 4.0):
        assert torch.allclose(sampled_softmax_loss(pos, neg, temperature=t), sampled_softmax_loss(pos / t, neg / t), rtol=0, atol=TOL)
        # the correction is added after scaling: s / T - log q - log N
        assert torch.allclose(
            sampled_softmax_loss(pos, neg, temperature=t, log_q=log_q),
            sampled_softmax_loss(pos / t, neg / t, log_q=log_q),
            rtol=0,
            atol=TOL,
        )
        scores = torch.cat([pos.unsqueeze(-1), neg], -1)
        items = torch.zeros(4, dtype=torch.long)
        assert torch.allclose(full_softmax_loss(scores, items, temperature=t), full_softmax_loss(scores / t, items), rtol=0, atol=TOL)
    # T -> inf: uniform softmax over 1 + N entries
    assert abs(float(sampled_softmax_loss(pos, neg, temperature=1e9)) - math.log(7)) < 1e-6
    # positive above all negatives: sharper temperature lowers the loss towards 0
    pos_hi = neg.max(-1).values + 1
    values = [float(sampled_softmax_loss(pos_hi, neg, temperature=t)) for t in (4.0, 1.0, 0.25, 0.05)]
    assert values == sorted(values, reverse=True) and values[-1] < 1e-6


# --------------------------------------------------------------------------- log-Q correction on a toy catalogue
N_ITEMS, POS_ITEM = 20, 0


def _toy_catalogue() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores of 20 items (item 0 the positive) and a skewed proposal over the 19 others.

    q is popularity-like: proportional to exp(s / 2), so it favours high-scoring items (max/min
    ratio ~15) without being the zero-variance proposal exp(s).
    """
    s = torch.randn(N_ITEMS, generator=_gen(10), dtype=D) * 1.5
    q = torch.zeros(N_ITEMS, dtype=D)
    q[1:] = torch.softmax(s[1:] / 2, dim=0)
    full = full_softmax_loss(s.unsqueeze(0), torch.tensor([POS_ITEM]))
    return s, q, full


def _draw(q: torch.Tensor, n: int, reps: int, seed: int) -> torch.Tensor:
    return torch.multinomial(q.expand(reps, -1), n, replacement=True, generator=_gen(seed))  # (reps, n)


def _per_rep_losses(s: torch.Tensor, draws: torch.Tensor, log_q: torch.Tensor | None) -> torch.Tensor:
    reps = draws.shape[0]
    pos = s[POS_ITEM].expand(reps)
    return torch.stack(
        [
            sampled_softmax_loss(pos[r : r + 1], s[draws[r]].unsqueeze(0), log_q=None if log_q is None else log_q[draws[r]])
            for r in range(reps)
        ]
    )


def test_importance_sampling_estimate_of_partition_is_unbiased() -> None:
    s, q, _ = _toy_catalogue()
    z_neg = torch.exp(s[1:]).sum()
    reps, n = 4000, 10
    draws = _draw(q, n, reps, seed=11)
    z_hat = (torch.exp(s[draws]) / (n * q[draws])).sum(-1)  # (reps,)
    se = z_hat.std() / math.sqrt(reps)
    assert abs(float(z_hat.mean() - z_neg)) < 4 * float(se)
    # the uncorrected sum over draws (scaled to the catalogue as if q were uniform) is far off
    z_uniform = (torch.exp(s[draws]) * (N_ITEMS - 1) / n).sum(-1)
    assert abs(float(z_uniform.mean() - z_neg)) > 10 * float(z_uniform.std() / math.sqrt(reps))
    # and the loss encodes exactly this estimate: loss = log(exp(s+) + Z_hat) - s+
    for r in range(5):
        loss = sampled_softmax_loss(s[:1], s[draws[r]].unsqueeze(0), log_q=torch.log(q[draws[r]]))
        assert abs(float(torch.exp(loss + s[0]) - torch.exp(s[0])) - float(z_hat[r])) < 1e-9 * float(z_hat[r])


def test_log_q_corrected_loss_converges_to_full_softmax() -> None:
    s, q, full = _toy_catalogue()
    log_q = torch.log(q)
    uniform_log_q = torch.full_like(q, -math.log(N_ITEMS - 1))
    reps = 100
    err: dict[tuple[str, int], float] = {}
    for n in (5, 5000):
        draws = _draw(q, n, reps, seed=12 + n)
        err[("logq", n)] = float((_per_rep_losses(s, draws, log_q) - full).abs().mean())
        err[("none", n)] = float((_per_rep_losses(s, draws, None) - full).abs().mean())
        err[("uniform", n)] = float((_per_rep_losses(s, draws, uniform_log_q) - full).abs().mean())
    assert err[("logq", 5000)] < 0.01
    assert err[("logq", 5000)] < err[("logq", 5)] / 10
    assert err[("logq", 5000)] < err[("none", 5000)] / 100
    # (3) without the right correction under a skewed q the limit is wrong: neither no correction
    # nor a uniform-proposal correction approaches the full loss as N grows
    assert err[("uniform", 5000)] > 10 * err[("logq", 5000)]
    assert err[("none", 5000)] > err[("none", 5)]


def test_uniform_correction_is_unbiased_under_uniform_proposal() -> None:
    # control for the test above: with a uniform q the uniform correction is the right one
    s, _, full = _toy_catalogue()
    q = torch.zeros(N_ITEMS, dtype=D)
    q[1:] = 1.0 / (N_ITEMS - 1)
    draws = _draw(q, 5000, 50, seed=13)
    err = float((_per_rep_losses(s, draws, torch.log(q)) - full).abs().mean())
    assert err < 0.02


def test_log_q_corrected_gradient_matches_full_softmax_gradient() -> None:
    s, q, _ = _toy_catalogue()
    leaf = s.clone().requires_grad_(True)
    (g_full,) = torch.autograd.grad(full_softmax_loss(leaf.unsqueeze(0), torch.tensor([POS_ITEM])), [leaf])
    draws = _draw(q, 5000, 20, seed=14)
    reps = draws.shape[0]

    def grad_of(log_q: torch.Tensor | None) -> torch.Tensor:
        loss = sampled_softmax_loss(
            leaf[POS_ITEM].expand(reps), leaf[draws], log_q=None if log_q is None else log_q[draws]
        )
        (g,) = torch.autograd.grad(loss, [leaf])
        return g

    gap_logq = float((grad_of(torch.log(q)) - g_full).abs().max())
    gap_none = float((grad_of(None) - g_full).abs().max())
    assert gap_logq < 0.02 and gap_none > 10 * gap_logq


# --------------------------------------------------------------------------- DirectAU properties
def test_directau_alignment_zero_for_identical_directions() -> None:
    user = torch.randn(6, 4, generator=_gen(15), dtype=D)
    assert abs(float(directau_loss(user, 3.0 * user, gamma=0.0))) < TOL
    assert float(directau_loss(user, -user, gamma=0.0)) == pytest.approx(4.0, abs=TOL)


@pytest.mark.parametrize("t", [2.0, 1.0])
def test_directau_uniformity_three_points(t: float) -> None:
    # e1, -e1, e2: squared distances 4, 2, 2 -> uniformity = log((exp(-4t) + 2 exp(-2t)) / 3)
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=D)
    expected = math.log((math.exp(-4 * t) + 2 * math.exp(-2 * t)) / 3)
    # items = users -> alignment 0, loss = gamma * (U + U) / 2
    assert float(directau_loss(x, x * 7.0, gamma=1.0, t=t)) == pytest.approx(expected, abs=TOL)
    assert float(directau_loss(x, x, gamma=0.5, t=t)) == pytest.approx(0.5 * expected, abs=TOL)


def test_directau_scale_invariance() -> None:
    g = _gen(16)
    user, item = torch.randn(8, 5, generator=g, dtype=D), torch.randn(8, 5, generator=g, dtype=D)
    base = directau_loss(user, item)
    for cu, ci in ((0.01, 1.0), (100.0, 0.3), (5.0, 5.0)):
        assert torch.allclose(directau_loss(cu * user, ci * item), base, rtol=0, atol=TOL)
    # per-row scaling too (each row normalised independently)
    row_scale = torch.rand(8, 1, generator=g, dtype=D) + 0.1
    assert torch.allclose(directau_loss(user * row_scale, item), base, rtol=0, atol=TOL)


# --------------------------------------------------------------------------- validation
BAD_TEMPERATURES = [0.0, -1.0, math.inf, math.nan]


@pytest.mark.parametrize("temperature", BAD_TEMPERATURES)
def test_bad_temperature_rejected(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        sampled_softmax_loss(torch.zeros(2), torch.zeros(2, 3), temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        full_softmax_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), temperature=temperature)


def test_sampled_softmax_shape_errors() -> None:
    with pytest.raises(ValueError, match="pos must have shape"):
        sampled_softmax_loss(torch.zeros(2, 1), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="neg must have shape"):
        sampled_softmax_loss(torch.zeros(2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="neg must have shape"):
        sampled_softmax_loss(torch.zeros(2), torch.zeros(2, 3, 1))
    with pytest.raises(ValueError, match="neg must have shape"):
        sampled_softmax_loss(torch.zeros(2), torch.zeros(2, 0))
    with pytest.raises(ValueError, match="log_q must be broadcastable"):
        sampled_softmax_loss(torch.zeros(2), torch.zeros(2, 3), log_q=torch.zeros(4))
    with pytest.raises(ValueError, match="log_q must be broadcastable"):
        sampled_softmax_loss(torch.zeros(2), torch.zeros(2, 3), log_q=torch.zeros(5, 2, 3))
    with pytest.raises(ValueError, match="weight has shape"):
        sampled_softmax_loss(torch.zeros(2), torch.zeros(2, 3), weight=torch.ones(3))


def test_full_softmax_errors() -> None:
    scores = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="scores must have shape"):
        full_softmax_loss(torch.zeros(4), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="pos_items must have shape"):
        full_softmax_loss(scores, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        full_softmax_loss(scores, torch.zeros(2))
    for bad in ([0, 4], [-1, 0]):
        with pytest.raises(ValueError, match=r"pos_items must lie in \[0, 4\)"):
            full_softmax_loss(scores, torch.tensor(bad))
    with pytest.raises(ValueError, match="weight has shape"):
        full_softmax_loss(scores, torch.tensor([0, 3]), weight=torch.ones(2, 1))


@pytest.mark.parametrize("margin", [1.5, -1.01, math.nan])
def test_ccl_bad_margin(margin: float) -> None:
    with pytest.raises(ValueError, match="margin"):
        ccl_loss(torch.zeros(2), torch.zeros(2, 3), margin=margin)


@pytest.mark.parametrize("negative_weight", [-0.1, math.inf, math.nan])
def test_ccl_bad_negative_weight(negative_weight: float) -> None:
    with pytest.raises(ValueError, match="negative_weight"):
        ccl_loss(torch.zeros(2), torch.zeros(2, 3), negative_weight=negative_weight)


def test_ccl_margin_edges_allowed_and_shape_errors() -> None:
    ccl_loss(torch.zeros(2), torch.zeros(2, 3), margin=-1.0)
    ccl_loss(torch.zeros(2), torch.zeros(2, 3), margin=1.0)
    with pytest.raises(ValueError, match="pos_cos must have shape"):
        ccl_loss(torch.zeros(2, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="neg_cos must have shape"):
        ccl_loss(torch.zeros(2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="weight has shape"):
        ccl_loss(torch.zeros(2), torch.zeros(2, 3), weight=torch.ones(1))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"gamma": -0.1}, "gamma"),
    ({"gamma": math.nan}, "gamma"),
    ({"gamma": math.inf}, "gamma"),
    ({"t": 0.0}, "t must be"),
    ({"t": -2.0}, "t must be"),
    ({"t": math.inf}, "t must be"),
])
def test_directau_bad_hyperparameters(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        directau_loss(torch.randn(3, 2), torch.randn(3, 2), **kwargs)


def test_directau_shape_errors() -> None:
    with pytest.raises(ValueError, match="B >= 2"):
        directau_loss(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match=r"shape \(B, d\)"):
        directau_loss(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"shape \(B, d\)"):
        directau_loss(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"shape \(B, d\)"):
        directau_loss(torch.randn(4), torch.randn(4))
