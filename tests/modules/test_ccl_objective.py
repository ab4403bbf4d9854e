"""The per-positive CCL objective normalises the item table before its gather when the batch
gathers more rows than the table holds; both orders must give the slow reference's value and
gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recpref.models import MF
from recpref.modules.objectives import PAIRWISE_OBJECTIVES, LossSettings


@pytest.mark.parametrize("n_neg", [2, 40])  # 4 x 3 = 12 rows < 20 items; 4 x 41 > 20: table first
def test_ccl_objective_matches_a_slow_reference(n_neg: int) -> None:
    torch.manual_seed(0)
    model = MF(6, 20, 5)
    users, pos = torch.tensor([0, 1, 5, 1]), torch.tensor([3, 4, 0, 19])
    neg = torch.randint(0, 20, (4, n_neg))
    got = PAIRWISE_OBJECTIVES["ccl"](LossSettings(margin=0.3, negative_weight=4.0))(model, None, users, pos, neg)
    g_got = torch.autograd.grad(got.loss, [model.user_emb.weight, model.item_emb.weight])

    loss = torch.zeros(())
    for b in range(4):  # SimpleX: (1 - cos(u, i+)) + w / N sum_j relu(cos(u, j) - m)
        u = model.user_emb.weight[users[b]]
        term = 1 - F.cosine_similarity(u, model.item_emb.weight[pos[b]], dim=0)
        hinge = sum(torch.relu(F.cosine_similarity(u, model.item_emb.weight[j], dim=0) - 0.3) for j in neg[b])
        loss = loss + term + 4.0 / n_neg * hinge
    loss = loss / 4
    g_want = torch.autograd.grad(loss, [model.user_emb.weight, model.item_emb.weight])
    torch.testing.assert_close(got.loss, loss)
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b)
        assert a.abs().sum() > 0
