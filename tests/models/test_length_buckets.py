"""Length buckets (`SequenceEncoder._encode_bucketed`) change no output: every encoder gives the
same interests, scores and gradients with and without them, on mixed, all-short, all-long and
empty histories."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from recpref.models import HCN, MIND, ComiRecDR, ComiRecSA, MeanPooling, SASRec, SequenceEncoder

N_ITEMS, DIM, MAX_LEN = 40, 8, 16

FACTORIES: dict[str, Callable[[], SequenceEncoder]] = {
    "mind": lambda: MIND(N_ITEMS, DIM, n_interests=3, max_len=MAX_LEN),
    "comirec-dr": lambda: ComiRecDR(N_ITEMS, DIM, n_interests=3, max_len=MAX_LEN),
    "comirec-sa": lambda: ComiRecSA(N_ITEMS, DIM, n_interests=3, max_len=MAX_LEN),
    "mean": lambda: MeanPooling(N_ITEMS, DIM, max_len=MAX_LEN),
    "sasrec": lambda: SASRec(N_ITEMS, DIM, max_len=MAX_LEN, n_heads=2, dropout=0.0),
    "hcn": lambda: HCN(N_ITEMS, DIM, n_interests=2, max_len=MAX_LEN, short_len=4),
}


def _batch(lengths: list[int], t: int = MAX_LEN, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded rows with the given numbers of real items (random ids, random junk at pads)."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(lengths)
    mask = torch.arange(t)[None, :] >= (t - lens)[:, None]
    history = torch.randint(0, N_ITEMS, (len(lengths), t), generator=g)  # junk at the pads too
    return history, mask


CASES = {
    "mixed": [1, 2, 3, 5, 9, 16, 4, 0, 7, 12, 2, 1, 8, 3, 3, 1],
    "all short": [1, 2, 2, 1, 2, 1, 1, 2],  # one bucket of width 2: the trimmed single pass
    "all long": [16, 15, 14, 16, 13, 16],  # buckets would not pay: the plain pass
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_buckets_change_no_interest_or_score(name: str, case: str) -> None:
    torch.manual_seed(0)
    model = FACTORIES[name]().eval()
    history, mask = _batch(CASES[case])
    with torch.no_grad():
        bucketed = model.interests(history, mask)
        s_bucketed = model.score_all(history, mask)
        model.length_buckets = False
        plain = model.interests(history, mask)
        s_plain = model.score_all(history, mask)
    assert torch.equal(bucketed.mask, plain.mask)
    assert torch.allclose(bucketed.vectors, plain.vectors, atol=1e-6)
    assert torch.allclose(s_bucketed, s_plain, atol=1e-5)


@pytest.mark.parametrize("name", ["comirec-dr", "comirec-sa", "hcn", "mean", "sasrec"])  # MIND draws its logits in training
def test_buckets_change_no_gradient(name: str) -> None:
    torch.manual_seed(0)
    model = FACTORIES[name]().train()
    history, mask = _batch(CASES["mixed"])
    grads = []
    for buckets in (True, False):
        model.length_buckets = buckets
        model.zero_grad()
        v, im = model.interests(history, mask)
        (v.square().sum() + v.sum()).backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for key in grads[0]:
        assert torch.allclose(grads[0][key], grads[1][key], atol=1e-5), key
