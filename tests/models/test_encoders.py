"""Model contract: score_all agrees with score; propagation equals a dense reference."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recpref.data import Interactions
from recpref.models import MF, NGCF, Encoder, LightGCN, normalized_adjacency


def _train(seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    m = rng.random((12, 15)) < 0.3
    m[:, 0] = True
    u, i = np.nonzero(m)
    return Interactions.from_indices(u, i, n_users=12, n_items=15)


FACTORIES: dict[str, Callable[[Interactions], Encoder]] = {
    "mf": lambda d: MF(d.n_users, d.n_items, 8),
    "mf-bias": lambda d: _with_random_biases(MF(d.n_users, d.n_items, 8, biases=True)),
    "lightgcn": lambda d: LightGCN(d, 8, n_layers=2),
    "ngcf": lambda d: NGCF(d, 8, n_layers=2).eval(),
}


def _with_random_biases(m: MF) -> MF:
    with torch.no_grad():
        assert m.user_bias is not None and m.item_bias is not None
        m.user_bias.normal_()
        m.item_bias.normal_()
    return m


@pytest.mark.parametrize("name", sorted(FACTORIES))
class TestEncoderContract:
    def test_score_all_agrees_with_score(self, name: str) -> None:
        torch.manual_seed(0)
        d = _train()
        model = FACTORIES[name](d)
        users = torch.tensor([0, 5, 11])
        full = model.score_all(users)
        assert full.shape == (3, d.n_items)
        items = torch.tensor([[0, 3, 14], [1, 1, 2], [7, 8, 9]])
        assert torch.allclose(model.score(users, items), full.gather(1, items), atol=1e-5)
        assert torch.allclose(model.score(users, items[:, 0]), full.gather(1, items[:, :1]).squeeze(1), atol=1e-5)

    def test_out_of_range_ids(self, name: str) -> None:
        d = _train()
        model = FACTORIES[name](d)
        with pytest.raises(ValueError, match="user indices out of range"):
            model.score_all(torch.tensor([12]))
        with pytest.raises(ValueError, match="item indices out of range"):
            model.score(torch.tensor([0]), torch.tensor([15]))

    def test_gradients_reach_embeddings(self, name: str) -> None:
        d = _train()
        model = FACTORIES[name](d)
        model.score(torch.tensor([1, 2]), torch.tensor([3, 4])).sum().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def _dense_norm_adj(d: Interactions) -> torch.Tensor:
    r = torch.as_tensor(d.matrix.toarray() > 0, dtype=torch.float64)
    a = torch.zeros(d.n_users + d.n_items, d.n_users + d.n_items, dtype=torch.float64)
    a[: d.n_users, d.n_users :] = r
    a[d.n_users :, : d.n_users] = r.T
    deg = a.sum(1)
    dinv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return dinv[:, None] * a * dinv[None, :]


def test_normalized_adjacency_matches_dense() -> None:
    d = _train(1)
    assert torch.allclose(normalized_adjacency(d).to_dense().double(), _dense_norm_adj(d), atol=1e-6)


def test_lightgcn_is_layer_mean_of_propagations() -> None:
    d = _train(2)
    model = LightGCN(d, 4, n_layers=3)
    e0 = model.emb.weight.detach().double()
    a = _dense_norm_adj(d)
    layers = [e0]
    for _ in range(3):
        layers.append(a @ layers[-1])
    ref = torch.stack(layers).mean(0)
    u, i = model.embed()
    assert torch.allclose(torch.cat([u, i]).double(), ref, atol=1e-5)


def test_ngcf_matches_dense_reference() -> None:
    d = _train(3)
    model = NGCF(d, 4, n_layers=2).eval()
    a = _dense_norm_adj(d).float()
    x = model.emb.weight.detach()
    out = [x]
    for w1, w2 in zip(model.w1, model.w2):
        side = a @ x
        x = F.leaky_relu(w1(side + x) + w2(side * x), 0.2)
        out.append(F.normalize(x, dim=1))
    ref = torch.cat(out, 1).detach()
    u, i = model.embed()
    assert torch.allclose(torch.cat([u, i]).detach(), ref, atol=1e-5)
    assert u.shape == (d.n_users, 4 * 3)


def test_ngcf_message_dropout_only_in_training() -> None:
    d = _train(4)
    model = NGCF(d, 4, n_layers=1, message_dropout=0.5)
    model.eval()
    a, b = model.embed()[0], model.embed()[0]
    assert torch.equal(a, b)
    model.train()
    torch.manual_seed(0)
    c = model.embed()[0]
    assert not torch.allclose(a, c)


def test_bad_sizes() -> None:
    with pytest.raises(ValueError):
        MF(0, 3)
    with pytest.raises(ValueError, match="message_dropout"):
        NGCF(_train(), 4, message_dropout=1.0)


def test_symmetric_spmm_gradient_matches_dense() -> None:
    import numpy as np
    import torch

    from recpref.data import Interactions
    from recpref.models.graph import normalized_adjacency, propagate

    rng = np.random.default_rng(0)
    u, i = np.nonzero(rng.random((12, 9)) < 0.3)
    adj = normalized_adjacency(Interactions.from_indices(u, i, n_users=12, n_items=9))
    dense = adj.to_dense()
    assert torch.allclose(dense, dense.T)
    x = torch.randn(21, 4, dtype=torch.float32, requires_grad=True)
    w = torch.randn(21, 4)
    (propagate(adj.to_sparse_csr(), x) * w).sum().backward()
    assert x.grad is not None
    ref = x.detach().clone().requires_grad_(True)
    ((dense @ ref) * w).sum().backward()
    assert ref.grad is not None
    assert torch.allclose(x.grad, ref.grad, atol=1e-6)


def test_graph_triplet_matches_score() -> None:
    import numpy as np
    import torch

    from recpref.data import Interactions
    from recpref.models import NGCF, LightGCN

    rng = np.random.default_rng(1)
    u, i = np.nonzero(rng.random((10, 8)) < 0.4)
    data = Interactions.from_indices(u, i, n_users=10, n_items=8)
    users, pos, neg = torch.tensor([0, 3, 5]), torch.tensor([1, 2, 7]), torch.tensor([[0, 4], [5, 6], [3, 3]])
    for enc in (LightGCN(data, dim=4, n_layers=2), NGCF(data, dim=4, n_layers=2, message_dropout=0.0)):
        t = enc.triplet(users, pos, neg)
        assert torch.allclose(t.pos, enc.score(users, pos), atol=1e-6)
        assert torch.allclose(t.neg, enc.score(users, neg), atol=1e-6)
