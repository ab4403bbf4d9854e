"""Sequence-encoder contract (every model) and the multi-interest extractors against slow,
explicit references: MIND routing and dynamic K, ComiRec-DR routing and its stop-gradient,
ComiRec-SA attention."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from recpref.models import HCN, MIND, ComiRecDR, ComiRecSA, MeanPooling, SASRec, SequenceEncoder

N_ITEMS, DIM, K, MAX_LEN = 13, 6, 3, 7

FACTORIES: dict[str, Callable[[], SequenceEncoder]] = {
    "mind": lambda: MIND(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN, init_std=0.5),
    "mind-mlp": lambda: MIND(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN, mlp_hidden=5, power=2.0, init_std=0.5),
    "comirec-dr": lambda: ComiRecDR(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN, init_std=0.5),
    "comirec-sa": lambda: ComiRecSA(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN, init_std=0.5),
    "mean": lambda: MeanPooling(N_ITEMS, DIM, max_len=MAX_LEN, init_std=0.5),
    "sasrec": lambda: SASRec(N_ITEMS, DIM, max_len=MAX_LEN, n_heads=2, dropout=0.3, init_std=0.5),
    "hcn": lambda: HCN(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN, short_len=2, init_std=0.5),
}

ROWS = [[3, 1, 4, 1, 5], [9, 2], [6], [], [0, 12, 7, 7], [8, 3, 0]]  # oldest first; one empty history


def layout(rows: list[list[int]], t: int, kind: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """rows -> (history (B, t), mask (B, t)) padded on the left, on the right, or with the real
    items scattered in order among pads ('gaps'); pad positions get random ids in [0, n_items]."""
    b = len(rows)
    hist = torch.randint(0, N_ITEMS + 1, (b, t), generator=gen)
    mask = torch.zeros(b, t, dtype=torch.bool)
    for r, items in enumerate(rows):
        n = len(items)
        if kind == "left":
            cols = list(range(t - n, t))
        elif kind == "right":
            cols = list(range(n))
        else:
            cols = sorted(torch.randperm(t, generator=gen)[:n].tolist())
        for c, item in zip(cols, items):
            hist[r, c], mask[r, c] = item, True
    return hist, mask


def _model(name: str, seed: int = 0) -> SequenceEncoder:
    torch.manual_seed(seed)
    return FACTORIES[name]().double().eval()


@pytest.mark.parametrize("name", sorted(FACTORIES))
class TestSequenceEncoderContract:
    def test_shapes(self, name: str) -> None:
        model = _model(name)
        h, m = layout(ROWS, 5, "left", torch.Generator().manual_seed(0))
        v, im = model.interests(h, m)
        k = model.n_interests
        assert v.shape == (len(ROWS), k, DIM) and im.shape == (len(ROWS), k) and im.dtype == torch.bool
        assert model.score_all(h, m).shape == (len(ROWS), N_ITEMS)
        assert model.readout(v, im, model.item_emb(torch.arange(len(ROWS)))).shape == (len(ROWS), DIM)
        assert model.item_emb.weight.shape == (N_ITEMS + 1, DIM) and model.item_emb.padding_idx == N_ITEMS

    def test_padding_never_changes_the_interests(self, name: str) -> None:
        model = _model(name)
        gen = torch.Generator().manual_seed(1)
        ref = model.interests(*layout(ROWS, 5, "left", gen))
        assert torch.count_nonzero(ref.vectors[3]) == 0, "an empty history gives zero interests"
        with torch.no_grad():
            model.item_emb.weight[N_ITEMS].normal_(generator=gen)  # the pad row is masked, not assumed 0
        for t, kind in [(5, "left"), (5, "left"), (5, "right"), (MAX_LEN, "left"), (MAX_LEN, "right"),
                        (MAX_LEN, "gaps"), (6, "gaps")]:
            got = model.interests(*layout(ROWS, t, kind, gen))  # new random ids at every pad
            assert torch.equal(got.mask, ref.mask)
            torch.testing.assert_close(got.vectors, ref.vectors, rtol=1e-12, atol=1e-12, msg=f"{t} {kind}")

    def test_score_all_is_max_over_active_interests(self, name: str) -> None:
        model = _model(name)
        h, m = layout(ROWS, 6, "right", torch.Generator().manual_seed(2))
        v, im = model.interests(h, m)
        v, items = v.detach(), model.item_emb.weight.detach()
        expected = torch.empty(len(ROWS), N_ITEMS, dtype=torch.float64)
        for b in range(len(ROWS)):
            for i in range(N_ITEMS):
                expected[b, i] = max(float(v[b, k] @ items[i]) for k in range(model.n_interests) if im[b, k])
        torch.testing.assert_close(model.score_all(h, m), expected)
        some = torch.randint(0, N_ITEMS, (len(ROWS), 4), generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(model.score(h, m, some), expected.gather(1, some))
        torch.testing.assert_close(model.score(h, m, some[:, 0]), expected.gather(1, some[:, :1]).squeeze(1))

    def test_readout_argmax_brute_force(self, name: str) -> None:
        model = _model(name)
        if isinstance(model, MIND):
            model.power = math.inf  # the hard limit of the label-aware attention
        gen = torch.Generator().manual_seed(4)
        v = torch.randn(8, model.n_interests, DIM, generator=gen, dtype=torch.float64)
        im = torch.rand(8, model.n_interests, generator=gen) < 0.6
        im[:, 0] |= ~im.any(1)
        target = torch.randn(8, DIM, generator=gen, dtype=torch.float64)
        got = model.readout(v, im, target)
        for b in range(8):
            best = max((k for k in range(model.n_interests) if im[b, k]), key=lambda k: float(v[b, k] @ target[b]))
            assert torch.equal(got[b], v[b, best])

    def test_training_mode_gradients_are_finite(self, name: str) -> None:
        model = _model(name).train()
        h, m = layout(ROWS, 6, "left", torch.Generator().manual_seed(5))
        v, im = model.interests(h, m)
        target = model.item_emb(torch.arange(len(ROWS)))
        (model.readout(v, im, target) * target).sum().backward()
        for p_name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), p_name
        assert torch.count_nonzero(model.item_emb.weight.grad[N_ITEMS]) == 0

    def test_bad_input(self, name: str) -> None:
        model = _model(name)
        h, m = layout(ROWS, 5, "left", torch.Generator().manual_seed(6))
        with pytest.raises(ValueError, match="history must be a 2-D int64"):
            model.interests(h.double(), m)
        with pytest.raises(ValueError, match="history must be a 2-D int64"):
            model.interests(h[0], m[0])
        with pytest.raises(ValueError, match="mask must be a bool"):
            model.interests(h, m.long())
        with pytest.raises(ValueError, match="mask must be a bool"):
            model.interests(h, m[:, 1:])
        with pytest.raises(ValueError, match=r"T = 8 columns.*max_len = 7"):
            model.interests(*layout(ROWS, 8, "left", torch.Generator().manual_seed(6)))
        bad = h.clone()
        bad[0, -1] = N_ITEMS  # the pad index at a real position
        with pytest.raises(ValueError, match="out of range"):
            model.score_all(bad, m)
        with pytest.raises(ValueError, match="out of range"):
            model.score(h, m, torch.full((len(ROWS),), N_ITEMS))
        v, im = model.interests(h, m)
        with pytest.raises(ValueError, match="target_emb"):
            model.readout(v, im, torch.zeros(len(ROWS), DIM + 1, dtype=torch.float64))
        with pytest.raises(ValueError, match="interest_mask"):
            model.readout(v, im.long(), torch.zeros(len(ROWS), DIM, dtype=torch.float64))
        with pytest.raises(ValueError, match="interests must have shape"):
            model.readout(v[:, :, 1:], im, torch.zeros(len(ROWS), DIM, dtype=torch.float64))


@pytest.mark.parametrize(("factory", "match"), [
    (lambda: MIND(0), "n_items must be an integer >= 1"),
    (lambda: MIND(5, 0), "dim must be an integer >= 1"),
    (lambda: MIND(5, n_interests=0), "n_interests must be an integer >= 1"),
    (lambda: MIND(5, max_len=0), "max_len must be an integer >= 1"),
    (lambda: MIND(5, n_iterations=0), "n_iterations must be an integer >= 1"),
    (lambda: MIND(5, power=0.0), r"power must be a number in \(0, inf\]"),
    (lambda: MIND(5, power=float("nan")), "power must be"),
    (lambda: MIND(5, routing_init_std=0.0), "routing_init_std"),
    (lambda: MIND(5, mlp_hidden=-1), "mlp_hidden must be an integer >= 0"),
    (lambda: ComiRecDR(5, n_interests=True), "n_interests must be an integer >= 1"),  # a bool is not a count
    (lambda: ComiRecDR(5, n_iterations=0), "n_iterations must be an integer >= 1"),
    (lambda: ComiRecDR(5, capsule_init_std=-1.0), "capsule_init_std"),
    (lambda: ComiRecSA(5, max_len=2.5), "max_len must be an integer >= 1"),
    (lambda: ComiRecSA(5, attention_dim=0), "attention_dim must be an integer >= 1"),
    (lambda: ComiRecSA(5, init_std=0.0), "init_std"),
    (lambda: MeanPooling(5, n_layers=-1), "n_layers must be an integer >= 0"),
    (lambda: SASRec(5, n_blocks=0), "n_blocks must be an integer >= 1"),
    (lambda: SASRec(5, 6, n_heads=4), "n_heads must divide dim = 6"),
    (lambda: SASRec(5, dropout=1.0), r"dropout must be a finite number in \[0, 1\)"),
])
def test_constructor_validation(factory: Callable[[], SequenceEncoder], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


# ---------------------------------------------------------------------------- slow references
def _squash(z: torch.Tensor) -> torch.Tensor:
    n2 = z @ z
    return z * 0.0 if float(n2.detach()) == 0 else z * (n2 / (1 + n2) / torch.sqrt(n2))


def _real(mask: torch.Tensor, b: int) -> list[int]:
    return [t for t in range(mask.shape[1]) if mask[b, t]]


def mind_reference(model: MIND, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eval-mode MIND on left-padded input, one user, capsule and behaviour at a time, routing
    among the K'_u active capsules only (interests beyond K'_u are zero)."""
    b_, t_ = ids.shape
    out = torch.zeros(b_, model.n_interests, model.dim, dtype=torch.float64)
    for b in range(b_):
        real = _real(mask, b)
        kk = 1 if not real else max(1, min(model.n_interests, math.floor(math.log2(len(real)))))
        u = {t: model.bilinear.weight @ model.item_emb.weight[ids[b, t]] for t in real}
        logit = {(k, t): float(model.routing_init[k, model.max_len - t_ + t]) for k in range(kk) for t in real}
        for it in range(model.n_iterations):
            caps = []
            for k in range(kk):
                z = torch.zeros(model.dim, dtype=torch.float64)
                for t in real:
                    z = z + math.exp(logit[k, t]) / sum(math.exp(logit[j, t]) for j in range(kk)) * u[t]
                caps.append(_squash(z))
            if it < model.n_iterations - 1:
                for k in range(kk):
                    for t in real:
                        logit[k, t] += float(caps[k] @ u[t])
        for k in range(kk if real else 0):  # an empty history: zero interests, MLP or not
            out[b, k] = caps[k] if model.mlp is None else model.mlp(caps[k])
    return out


def dr_reference(model: ComiRecDR, ids: torch.Tensor, mask: torch.Tensor, *, stop_gradient: bool = True
                 ) -> torch.Tensor:
    """ComiRec-DR on left-padded input with explicit loops; with ``stop_gradient`` the
    predictions are detached in every round but the last (as the paper's code), else never."""
    b_, t_ = ids.shape
    kk, d, r = model.n_interests, model.dim, model.n_iterations
    rows = []
    for b in range(b_):
        real = _real(mask, b)
        u = {(k, t): model.capsule_maps[model.max_len - t_ + t, k * d:(k + 1) * d] @ model.item_emb.weight[ids[b, t]]
             for k in range(kk) for t in real}
        logit: dict[tuple[int, int], torch.Tensor] = {key: torch.zeros((), dtype=torch.float64) for key in u}
        for it in range(r):
            use = {key: (val.detach() if stop_gradient and it < r - 1 else val) for key, val in u.items()}
            caps = []
            for k in range(kk):
                z = torch.zeros(d, dtype=torch.float64)
                for t in real:
                    z = z + torch.exp(logit[k, t]) / sum(torch.exp(logit[j, t]) for j in range(kk)) * use[k, t]
                caps.append(_squash(z))
            if it < r - 1:
                for k, t in u:
                    logit[k, t] = logit[k, t] + caps[k] @ use[k, t]
        rows.append(torch.stack(caps))
    return torch.stack(rows)


def sa_reference(model: ComiRecSA, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    b_, t_ = ids.shape
    out = torch.zeros(b_, model.n_interests, model.dim, dtype=torch.float64)
    for b in range(b_):
        real = _real(mask, b)
        for k in range(model.n_interests):
            logits = {}
            for t in real:
                x = model.item_emb.weight[ids[b, t]] + model.pos_emb.weight[model.max_len - t_ + t]
                logits[t] = float(model.w2.weight[k] @ torch.tanh(model.w1.weight @ x + model.w1.bias))
            norm = sum(math.exp(val) for val in logits.values())
            for t in real:
                out[b, k] += math.exp(logits[t]) / norm * model.item_emb.weight[ids[b, t]]
    return out


# ---------------------------------------------------------------------------- MIND
@pytest.mark.parametrize("k", [1, 3, 4, 8])
def test_mind_dynamic_k_formula(k: int) -> None:
    model = MIND(N_ITEMS, DIM, n_interests=k, max_len=40).double().eval()
    lengths = torch.arange(0, 41)
    expected = [1 if n == 0 else max(1, min(k, math.floor(math.log2(n)))) for n in range(41)]
    assert model.active_interests(lengths).tolist() == expected
    rows = [[(3 * j + n) % N_ITEMS for j in range(n)] for n in (0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 40)]
    v, im = model.interests(*layout(rows, 40, "left", torch.Generator().manual_seed(0)))
    for b, row in enumerate(rows):
        kk = expected[len(row)]
        assert im[b].tolist() == [j < kk for j in range(k)]
        assert torch.count_nonzero(v[b, kk:]) == 0
        if row:
            assert (v[b, :kk].norm(dim=-1) > 0).all()


@pytest.mark.parametrize("mlp_hidden", [0, 4])
def test_mind_routing_equals_slow_reference(mlp_hidden: int) -> None:
    torch.manual_seed(7)
    model = MIND(N_ITEMS, DIM, n_interests=4, max_len=MAX_LEN, mlp_hidden=mlp_hidden, init_std=0.5).double().eval()
    rows = ROWS + [[1, 2, 3, 4, 5, 6, 7], [5, 5, 5, 5]]
    h, m = layout(rows, MAX_LEN, "left", torch.Generator().manual_seed(8))
    v, im = model.interests(h, m)
    with torch.no_grad():
        torch.testing.assert_close(v, mind_reference(model, h, m))


def test_mind_training_routing_init_is_random_and_seeded() -> None:
    torch.manual_seed(9)
    model = MIND(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN).double().train()
    h, m = layout([[1, 2, 3, 4, 5, 6, 7], [4, 5, 6, 7, 8]], MAX_LEN, "left", torch.Generator().manual_seed(0))
    a = model.interests(h, m, generator=torch.Generator().manual_seed(1)).vectors
    b = model.interests(h, m, generator=torch.Generator().manual_seed(1)).vectors
    c = model.interests(h, m, generator=torch.Generator().manual_seed(2)).vectors
    assert torch.equal(a, b) and not torch.allclose(a, c)
    # padding invariance also holds for a training-mode draw (same shape, same generator)
    h2, m2 = layout([[1, 2, 3, 4, 5, 6, 7], [4, 5, 6, 7, 8]], MAX_LEN, "right", torch.Generator().manual_seed(3))
    torch.testing.assert_close(model.interests(h2, m2, generator=torch.Generator().manual_seed(1)).vectors, a)
    model.eval()  # eval mode: the fixed draw, deterministic without a generator
    assert torch.equal(model.interests(h, m).vectors, model.interests(h, m).vectors)


def test_mind_label_aware_attention_reference() -> None:
    gen = torch.Generator().manual_seed(10)
    for power in (0.5, 1.0, 3.0):
        model = MIND(N_ITEMS, DIM, n_interests=4, power=power).double()
        v = torch.randn(5, 4, DIM, generator=gen, dtype=torch.float64)
        im = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
        target = torch.randn(5, DIM, generator=gen, dtype=torch.float64)
        got = model.readout(v, im, target)
        for b in range(5):
            act = [k for k in range(4) if im[b, k]]
            w = [math.exp(power * float(v[b, k] @ target[b])) for k in act]
            torch.testing.assert_close(got[b], sum(wk / sum(w) * v[b, k] for wk, k in zip(w, act)))
    # large power approaches the hard argmax
    model = MIND(N_ITEMS, DIM, n_interests=4, power=1e6).double()
    hard = MIND(N_ITEMS, DIM, n_interests=4, power=math.inf).double()
    torch.testing.assert_close(model.readout(v, im, target), hard.readout(v, im, target))


# ---------------------------------------------------------------------------- ComiRec-DR
def _dr_case(n_iterations: int) -> tuple[ComiRecDR, torch.Tensor, torch.Tensor]:
    torch.manual_seed(11)
    model = ComiRecDR(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN, n_iterations=n_iterations,
                      capsule_init_std=0.3, init_std=0.5).double()
    h, m = layout([[1, 2, 3, 4, 5, 6], [7, 8], [9], [10, 11, 12, 0]], 6, "left", torch.Generator().manual_seed(12))
    return model, h, m


@pytest.mark.parametrize("n_iterations", [1, 3])
def test_dr_routing_equals_slow_reference(n_iterations: int) -> None:
    model, h, m = _dr_case(n_iterations)
    with torch.no_grad():
        torch.testing.assert_close(model.interests(h, m).vectors, dr_reference(model, h, m))


def _grads(model: ComiRecDR, out: torch.Tensor, weight: torch.Tensor) -> list[torch.Tensor]:
    params = [model.capsule_maps, model.item_emb.weight]
    return list(torch.autograd.grad((out * weight).sum(), params))


@pytest.mark.parametrize("n_iterations", [2, 3])
def test_dr_stop_gradient_in_all_but_the_last_iteration(n_iterations: int) -> None:
    model, h, m = _dr_case(n_iterations)
    weight = torch.randn(4, K, DIM, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    got = _grads(model, model.interests(h, m).vectors, weight)
    expected = _grads(model, dr_reference(model, h, m, stop_gradient=True), weight)
    full = _grads(model, dr_reference(model, h, m, stop_gradient=False), weight)
    for g, e, f in zip(got, expected, full):
        torch.testing.assert_close(g, e)
        assert not torch.allclose(g, f, atol=1e-6), "the test must tell stop-gradient from full routing apart"


def test_dr_gradient_is_the_last_round_with_constant_weights() -> None:
    """Only the last round carries gradient: the gradient equals that of squash(sum_i w_ki û_ki)
    with the routing weights w computed without autograd."""
    model, h, m = _dr_case(3)
    with torch.no_grad():
        u = model.predictions(h, m)
        logits = torch.zeros(4, K, 6, dtype=torch.float64)
        for _ in range(2):
            w = torch.softmax(logits, 1) * m.unsqueeze(1)
            v = torch.stack([torch.stack([_squash((w[b, k].unsqueeze(-1) * u[b, k]).sum(0)) for k in range(K)])
                             for b in range(4)])
            logits = logits + torch.einsum("bkd,bktd->bkt", v, u)
        w = torch.softmax(logits, 1) * m.unsqueeze(1)
    u = model.predictions(h, m)
    last = torch.stack([torch.stack([_squash((w[b, k].unsqueeze(-1) * u[b, k]).sum(0)) for k in range(K)])
                        for b in range(4)])
    weight = torch.randn(4, K, DIM, generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    for g, e in zip(_grads(model, model.interests(h, m).vectors, weight), _grads(model, last, weight)):
        torch.testing.assert_close(g, e)


# ---------------------------------------------------------------------------- ComiRec-SA
def test_sa_equals_slow_reference() -> None:
    torch.manual_seed(15)
    model = ComiRecSA(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN, attention_dim=5, init_std=0.5).double()
    h, m = layout(ROWS, 6, "left", torch.Generator().manual_seed(16))
    with torch.no_grad():
        torch.testing.assert_close(model.interests(h, m).vectors, sa_reference(model, h, m))
        a = model.attention(h, m)
    assert a.shape == (len(ROWS), K, 6)
    assert torch.count_nonzero(a.masked_fill(m.unsqueeze(1), 0)) == 0
    torch.testing.assert_close(a.sum(-1), m.any(1, keepdim=True).double().expand(-1, K))


def test_sa_positions_enter_the_attention_only() -> None:
    """With one position embedding changed, the attention changes but the interests stay
    convex combinations of the item embeddings alone (no position vector in the values)."""
    torch.manual_seed(17)
    model = ComiRecSA(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN, init_std=0.5).double()
    h, m = layout([[1, 2, 3, 4]], 4, "left", torch.Generator().manual_seed(18))
    with torch.no_grad():
        a = model.attention(h, m)
        v = model.interests(h, m).vectors
        torch.testing.assert_close(v, a @ model.item_emb.weight[h])
        model.pos_emb.weight[MAX_LEN - 1] += 3.0
        assert not torch.allclose(model.attention(h, m), a)
