"""Sampler contract tests + distribution checks against slow reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from recpref.data import Interactions
from recpref.sampling import (
    HardNegativeSampler,
    NegativeSampler,
    PopularitySampler,
    PositiveSampler,
    UniformSampler,
    make_generator,
    stream_seed,
)


def _data(seed: int = 0, n_users: int = 30, n_items: int = 25, density: float = 0.4) -> Interactions:
    rng = np.random.default_rng(seed)
    m = rng.random((n_users, n_items)) < density
    m[:, 0] = True
    m[0, :-2] = True  # user 0 has only two negatives: exercises the masked fallback
    u, i = np.nonzero(m)
    return Interactions.from_indices(u, i, n_users=n_users, n_items=n_items)


def _reference_neg_probs(train: Interactions, user: int, weights: np.ndarray) -> np.ndarray:
    """Slow reference: proposal weights restricted to the user's negatives, normalised."""
    w = weights.astype(np.float64).copy()
    w[train.items_of(user)] = 0.0
    return w / w.sum()


SAMPLERS = {
    "uniform-bitset": lambda d: UniformSampler(d, bytemap_max_bytes=0, backend="torch"),
    "uniform-sorted": lambda d: UniformSampler(d, bitset_max_bytes=0),
    "uniform-bytemap": lambda d: UniformSampler(d, backend="torch"),
    "uniform-bytemap-numba": lambda d: UniformSampler(d, backend="numba"),
    "uniform-bitset-numba": lambda d: UniformSampler(d, bytemap_max_bytes=0, backend="numba"),
    "popularity-bytemap": lambda d: PopularitySampler(d, exponent=0.75, smoothing=1.0, backend="torch"),
    "popularity-bitset": lambda d: PopularitySampler(d, exponent=0.75, smoothing=1.0, bytemap_max_bytes=0,
                                                     backend="torch"),
    "popularity-sorted": lambda d: PopularitySampler(d, exponent=0.75, smoothing=1.0, bitset_max_bytes=0),
    "popularity-bytemap-numba": lambda d: PopularitySampler(d, exponent=0.75, smoothing=1.0, backend="numba"),
    "popularity-bitset-numba": lambda d: PopularitySampler(d, exponent=0.75, smoothing=1.0, bytemap_max_bytes=0,
                                                           backend="numba"),
}


@pytest.fixture(params=sorted(SAMPLERS))
def sampler_case(request: pytest.FixtureRequest) -> tuple[str, Interactions, NegativeSampler]:
    d = _data()
    s = SAMPLERS[request.param](d)
    structure = request.param.split("-")[1]
    assert (s.bytemap is not None, s.bits is not None) == (structure == "bytemap", structure == "bitset")
    assert s.backend == ("numba" if request.param.endswith("numba") else "torch")
    return request.param, d, s


class TestNegativeSamplerContract:
    def test_never_returns_a_positive(self, sampler_case: tuple[str, Interactions, NegativeSampler]) -> None:
        _, d, s = sampler_case
        users = torch.arange(d.n_users).repeat(200)
        neg = s.sample(users, 4, make_generator(1))
        dense = d.matrix.toarray() > 0
        assert not dense[users.numpy()[:, None], neg.numpy()].any()

    def test_shape_dtype_device(self, sampler_case: tuple[str, Interactions, NegativeSampler]) -> None:
        _, _, s = sampler_case
        neg = s.sample(torch.tensor([0, 3, 5]), 7, make_generator(0))
        assert neg.shape == (3, 7) and neg.dtype == torch.int64 and neg.device.type == "cpu"

    def test_deterministic_for_a_generator(self, sampler_case: tuple[str, Interactions, NegativeSampler]) -> None:
        _, _, s = sampler_case
        users = torch.arange(30).repeat(10)
        a = s.sample(users, 3, make_generator(5))
        b = s.sample(users, 3, make_generator(5))
        c = s.sample(users, 3, make_generator(6))
        assert torch.equal(a, b) and not torch.equal(a, c)

    def test_distribution_matches_reference(self, sampler_case: tuple[str, Interactions, NegativeSampler]) -> None:
        name, d, s = sampler_case
        weights = np.ones(d.n_items) if name.startswith("uniform") else (d.item_counts + 1.0) ** 0.75
        n = 6000
        for user in (0, 1, 7):  # user 0 goes through the masked fallback often
            draws = s.sample(torch.full((n,), user), 1, make_generator(user)).squeeze(1).numpy()
            p = _reference_neg_probs(d, user, weights)
            support = p > 0
            observed = np.bincount(draws, minlength=d.n_items)
            assert observed[~support].sum() == 0
            if support.sum() > 1:
                chi = stats.chisquare(observed[support], n * p[support])
                assert chi.pvalue > 1e-3, (name, user, chi)

    def test_out_of_range_user(self, sampler_case: tuple[str, Interactions, NegativeSampler]) -> None:
        _, _, s = sampler_case
        with pytest.raises(ValueError, match="user indices out of range"):
            s.sample(torch.tensor([30]), 1, make_generator(0))

    def test_bad_n_neg(self, sampler_case: tuple[str, Interactions, NegativeSampler]) -> None:
        with pytest.raises(ValueError, match="n_neg must be >= 1"):
            sampler_case[2].sample(torch.tensor([0]), 0, make_generator(0))


def test_user_with_every_item_is_refused() -> None:
    d = Interactions.from_indices([0, 0, 1], [0, 1, 0], n_users=2, n_items=2)
    with pytest.raises(ValueError, match="1 users interacted with every item"):
        UniformSampler(d)


def test_popularity_weights_need_support() -> None:
    d = Interactions.from_indices([0], [0], n_users=2, n_items=3)
    s = PopularitySampler(d, exponent=1.0)  # items 1, 2 unseen -> weight 0
    with pytest.raises(ValueError, match="no negative item with non-zero sampling weight"):
        s.sample(torch.tensor([0]), 1, make_generator(0))


class TestHardNegatives:
    def test_picks_highest_scored_candidate(self) -> None:
        d = _data(2)
        base = UniformSampler(d)
        item_score = torch.randn(d.n_items, generator=torch.Generator().manual_seed(0))
        hard = HardNegativeSampler(base, n_candidates=8)
        users = torch.arange(d.n_users).repeat(50)
        neg = hard.sample(users, 2, make_generator(3), lambda u, items: item_score[items])
        # reference: same generator -> same candidates; argmax by the same scores
        cand = base.sample(users, 16, make_generator(3)).view(len(users), 2, 8)
        ref = cand.gather(-1, item_score[cand].argmax(-1, keepdim=True)).squeeze(-1)
        assert torch.equal(neg, ref)
        assert not (d.matrix.toarray() > 0)[users.numpy()[:, None], neg.numpy()].any()
        # harder than uniform on average
        assert item_score[neg].mean() > item_score[base.sample(users, 2, make_generator(4))].mean() + 0.5

    def test_score_shape_checked(self) -> None:
        hard = HardNegativeSampler(UniformSampler(_data()), n_candidates=4)
        with pytest.raises(ValueError, match="score_fn returned shape"):
            hard.sample(torch.tensor([1]), 1, make_generator(0), lambda u, i: torch.zeros(1))


class TestPositives:
    def test_interaction_stream_is_uniform_over_pairs(self) -> None:
        d = _data(3)
        u, i = PositiveSampler(d, "interactions").sample(40000, make_generator(0))
        dense = d.matrix.toarray() > 0
        assert dense[u.numpy(), i.numpy()].all()
        keys = u.numpy() * d.n_items + i.numpy()
        all_keys = d.rows * d.n_items + d.indices
        observed = np.array([(keys == k).sum() for k in all_keys])
        assert stats.chisquare(observed).pvalue > 1e-3

    def test_user_stream_is_uniform_over_users_then_items(self) -> None:
        d = Interactions.from_indices([0, 1, 1, 1, 3], [0, 0, 1, 2, 2], n_users=4, n_items=3)
        u, i = PositiveSampler(d, "users").sample(30000, make_generator(1))
        counts = np.bincount(u.numpy(), minlength=4)
        assert counts[2] == 0  # user without interactions is never drawn
        assert stats.chisquare(counts[[0, 1, 3]]).pvalue > 1e-3
        items_u1 = np.bincount(i.numpy()[u.numpy() == 1], minlength=3)
        assert stats.chisquare(items_u1).pvalue > 1e-3

    def test_bad_stream(self) -> None:
        with pytest.raises(ValueError, match="stream must be"):
            PositiveSampler(_data(), "items")  # type: ignore[arg-type]


def test_rank_streams_differ_and_repeat() -> None:
    assert stream_seed(2020, 0) == stream_seed(2020, 0)
    seeds = {stream_seed(2020, r) for r in range(8)} | {stream_seed(2020, 0, e) for e in range(1, 8)}
    assert len(seeds) == 15
    a = torch.rand(5, generator=make_generator(1, rank=0))
    b = torch.rand(5, generator=make_generator(1, rank=1))
    assert not torch.equal(a, b)


def test_shuffle_stream_visits_every_pair_once_per_pass() -> None:
    import numpy as np
    import torch

    from recpref.data import Interactions
    from recpref.sampling import PositiveSampler, make_generator

    rng = np.random.default_rng(3)
    dense = rng.random((30, 20)) < 0.3
    u, i = np.nonzero(dense)
    data = Interactions.from_indices(u, i, n_users=30, n_items=20)
    ps = PositiveSampler(data, "shuffle")
    users, items = ps.epoch(data.nnz + 7, make_generator(1, 0, 0))
    keys = (users * 20 + items).numpy()
    first = keys[: data.nnz]
    assert np.array_equal(np.sort(first), np.sort(u * 20 + i))  # a permutation of all pairs
    assert set(keys[data.nnz:]) <= set(first) and len(keys) == data.nnz + 7
    again, _ = ps.epoch(data.nnz, make_generator(1, 0, 0))
    other, _ = ps.epoch(data.nnz, make_generator(1, 0, 1))
    assert torch.equal(again, users[: data.nnz]) and not torch.equal(again, other)


def test_alias_table_reproduces_the_weights_exactly() -> None:
    import numpy as np

    from recpref.sampling.negatives import alias_table

    rng = np.random.default_rng(0)
    for w in (rng.random(50) ** 3, np.array([0.0, 1.0, 0.0, 3.0, 6.0]), np.ones(7)):
        prob, alias = alias_table(w)
        n = w.size
        implied = prob.copy()
        np.add.at(implied, alias, 1.0 - prob)
        np.testing.assert_allclose(implied / n, w / w.sum(), atol=1e-12)
        assert np.all(implied[w == 0] == 0)


def test_numba_backend_needs_a_table_and_the_cpu() -> None:
    d = _data()
    with pytest.raises(ValueError, match="backend='numba' needs"):
        UniformSampler(d, bitset_max_bytes=0, backend="numba")
    with pytest.raises(ValueError, match="backend must be"):
        UniformSampler(d, backend="cuda")  # type: ignore[arg-type]
    assert UniformSampler(d).backend == "numba"  # auto picks the compiled loop on CPU


def test_numba_backend_finishes_stubborn_users_exactly() -> None:
    # user 0's only negative carries almost no popularity mass: the loop gives up, the masked draw finishes
    users = [0] * 9 + [1, 2, 3] * 5
    items = list(range(1, 10)) + [1, 2, 3, 4, 5] * 3
    d = Interactions.from_indices(users, items, n_users=4, n_items=10)
    s = PopularitySampler(d, exponent=3.0, smoothing=0.001, backend="numba")
    neg = s.sample(torch.zeros(50, dtype=torch.long), 2, make_generator(0))
    assert (neg == 0).all()


@pytest.mark.parametrize("kind", ["uniform", "popularity"])
@pytest.mark.parametrize("bytemap_max_bytes", [32 * 2**20, 0])
def test_batches_do_not_depend_on_thread_settings(kind: str, bytemap_max_bytes: int) -> None:
    import numba

    from recpref.kernels.negatives import BLOCK

    d = _data(4, n_users=40, n_items=60, density=0.2)
    s = (UniformSampler(d, bytemap_max_bytes=bytemap_max_bytes, backend="numba") if kind == "uniform" else
         PopularitySampler(d, smoothing=1.0, bytemap_max_bytes=bytemap_max_bytes, backend="numba"))
    pos = PositiveSampler(d, "shuffle")
    n = 2 * BLOCK + 17  # several blocks of users, each with its own stream
    before = torch.get_num_threads(), numba.get_num_threads()
    outs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            gen = make_generator(9)
            users, items = pos.epoch(n, gen)
            outs.append(torch.cat([users, items, s.sample(users, 2, gen).view(-1)]))
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])
    assert torch.equal(outs[0], outs[1])
    users, neg = outs[0][:n], outs[0][2 * n:].view(n, 2)
    assert not (d.matrix.toarray() > 0)[users.numpy()[:, None], neg.numpy()].any()


@pytest.mark.parametrize("stream", ["interactions", "shuffle"])
def test_cpu_positive_pairs_match_the_torch_gathers(stream: str) -> None:
    d = _data(5)
    ps = PositiveSampler(d, stream)  # type: ignore[arg-type]
    n = 3 * d.nnz + 5
    users, items = ps.epoch(n, make_generator(2))
    gen = make_generator(2)  # the same draws, gathered with torch as on any other device
    if stream == "interactions":
        idx = torch.randint(d.nnz, (n,), generator=gen)
    else:
        idx = torch.cat([torch.randperm(d.nnz, generator=gen) for _ in range(4)])[:n]
    assert torch.equal(users, ps.rows.index_select(0, idx)) and torch.equal(items, ps.indices.index_select(0, idx))
    assert users.dtype == items.dtype == torch.int64


def test_index_range_check_names_the_indices() -> None:
    from recpref.sampling.batches import check_index_range

    check_index_range("user", torch.tensor([0, 4, 2]), 5)
    check_index_range("user", torch.empty(0, dtype=torch.long), 0)
    check_index_range("user", torch.arange(10)[::3], 10)  # a strided view
    for bad in (torch.tensor([0, 5]), torch.tensor([-1, 2]), torch.arange(12)[::4]):
        with pytest.raises(ValueError, match=r"user indices out of range \[0, 5\)"):
            check_index_range("user", bad, 5)
