"""Single-interest references (mean pooling, SASRec) and the sequence helpers."""

from __future__ import annotations

import torch

from recpref.models import MeanPooling, SASRec
from recpref.models.sequential import left_align, masked_softmax

N_ITEMS, DIM, MAX_LEN = 11, 8, 6


def _left(rows: list[list[int]], t: int) -> tuple[torch.Tensor, torch.Tensor]:
    h = torch.full((len(rows), t), N_ITEMS)
    m = torch.zeros(len(rows), t, dtype=torch.bool)
    for b, row in enumerate(rows):
        if row:
            h[b, t - len(row):] = torch.tensor(row)
            m[b, t - len(row):] = True
    return h, m


def test_left_align() -> None:
    h = torch.tensor([[5, 1, 7, 2], [3, 4, 8, 9], [0, 0, 0, 0]])
    m = torch.tensor([[True, False, True, False], [True, True, True, True], [False, False, False, False]])
    ids, mm = left_align(h, m, 99)
    assert ids.tolist() == [[99, 99, 5, 7], [3, 4, 8, 9], [99, 99, 99, 99]]
    assert mm.tolist() == [[False, False, True, True], [True] * 4, [False] * 4]


def test_masked_softmax_empty_slice_is_zero_and_finite() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], requires_grad=True)
    m = torch.tensor([[True, False, True], [False, False, False]])
    w = masked_softmax(x, m)
    p = torch.softmax(torch.tensor([1.0, 3.0]), 0)
    torch.testing.assert_close(w[0], torch.stack([p[0], torch.tensor(0.0), p[1]]))
    assert torch.count_nonzero(w[1]) == 0
    (w * torch.arange(3.0)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_mean_pooling_is_the_mean_of_real_items() -> None:
    torch.manual_seed(0)
    model = MeanPooling(N_ITEMS, DIM, max_len=MAX_LEN, n_layers=0).double()
    rows = [[1, 2, 3], [4], []]
    v, im = model.interests(*_left(rows, 4))
    assert im.all() and v.shape == (3, 1, DIM)
    torch.testing.assert_close(v[0, 0], model.item_emb.weight[[1, 2, 3]].mean(0))
    torch.testing.assert_close(v[1, 0], model.item_emb.weight[4])
    assert torch.count_nonzero(v[2]) == 0
    deep = MeanPooling(N_ITEMS, DIM, max_len=MAX_LEN, n_layers=2).double()
    with torch.no_grad():
        mean = deep.item_emb.weight[[1, 2, 3]].mean(0)
        expected = deep.layers[1](torch.relu(deep.layers[0](mean)))
        torch.testing.assert_close(deep.interests(*_left(rows, 4)).vectors[0, 0], expected)


def test_sasrec_is_causal() -> None:
    torch.manual_seed(1)
    model = SASRec(N_ITEMS, DIM, max_len=MAX_LEN, n_heads=2).double().eval()
    h, m = _left([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10]], MAX_LEN)
    base = model.sequence_output(h, m)
    for col in (2, 3, 5):
        h2 = h.clone()
        h2[:, col] = (h2[:, col] + 1) % N_ITEMS
        out = model.sequence_output(h2, m)
        torch.testing.assert_close(out[:, :col], base[:, :col], rtol=0, atol=0)
        assert not torch.allclose(out[:, col], base[:, col])


def test_sasrec_interest_is_the_last_real_position() -> None:
    torch.manual_seed(2)
    model = SASRec(N_ITEMS, DIM, max_len=MAX_LEN).double().eval()
    h, m = _left([[1, 2, 3], [4, 5, 6, 7, 8, 9], []], MAX_LEN)
    seq = model.sequence_output(h, m)
    v = model.interests(h, m).vectors
    torch.testing.assert_close(v[:, 0], seq[:, -1])
    assert torch.count_nonzero(v[2]) == 0 and torch.count_nonzero(seq[m.logical_not()]) == 0
    # a shorter history is the same as the prefix of a longer one: positions count back from the end
    short = model.interests(*_left([[1, 2, 3]], 3)).vectors
    torch.testing.assert_close(short[0], v[0])


def test_sasrec_dropout_is_configurable() -> None:
    torch.manual_seed(3)
    h, m = _left([[1, 2, 3, 4]], 5)
    plain = SASRec(N_ITEMS, DIM, max_len=MAX_LEN, dropout=0.0).double()
    torch.testing.assert_close(plain.train().interests(h, m).vectors, plain.eval().interests(h, m).vectors)
    noisy = SASRec(N_ITEMS, DIM, max_len=MAX_LEN, dropout=0.5).double()
    assert not torch.allclose(noisy.train().interests(h, m).vectors, noisy.eval().interests(h, m).vectors)
    assert len(plain.blocks) == 2
