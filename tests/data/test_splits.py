from __future__ import annotations

import math

import numpy as np
import pytest

from recpref.data import (
    Interactions,
    Split,
    global_temporal_split,
    leave_last_out,
    overlap_count,
    predefined_split,
    random_split,
    temporal_split,
)


def _random_data(seed: int = 0, n_users: int = 60, n_items: int = 80) -> Interactions:
    rng = np.random.default_rng(seed)
    m = rng.random((n_users, n_items)) < 0.15
    m[:, 0] = True  # every user has at least one interaction
    u, i = np.nonzero(m)
    perm = rng.permutation(len(u))
    return Interactions.from_indices(
        u[perm], i[perm], n_users=n_users, n_items=n_items,
        timestamps=rng.integers(0, 1000, len(u)),
    )


def _pairs(x: Interactions) -> set[tuple[int, int]]:
    return set(zip(x.rows.tolist(), x.indices.tolist()))


def _assert_partition(data: Interactions, split: Split) -> None:
    parts = [_pairs(p) for p in split.parts().values()]
    union: set[tuple[int, int]] = set().union(*parts)
    assert union == _pairs(data)
    assert sum(len(p) for p in parts) == data.nnz  # disjoint


class TestRandomSplit:
    def test_per_user_counts_follow_floor(self) -> None:
        data = _random_data()
        s = random_split(data, 0.2, valid_ratio=0.1, seed=2020)
        _assert_partition(data, s)
        assert s.valid is not None
        n_u = data.user_counts
        assert s.test.user_counts.tolist() == [math.floor(0.2 * n) for n in n_u]
        assert s.valid.user_counts.tolist() == [math.floor(0.1 * n) for n in n_u]

    def test_deterministic_and_seed_dependent(self) -> None:
        data = _random_data()
        a, b = random_split(data, seed=1), random_split(data, seed=1)
        c = random_split(data, seed=2)
        assert _pairs(a.test) == _pairs(b.test)
        assert _pairs(a.test) != _pairs(c.test)

    def test_roughly_uniform_over_items(self) -> None:
        # one user with 10 items, 1 to test: over many seeds every item is picked
        data = Interactions.from_indices([0] * 10, list(range(10)), n_users=1, n_items=10)
        picked = [random_split(data, 0.1, seed=s).test.indices[0] for s in range(300)]
        counts = np.bincount(picked, minlength=10)
        assert counts.min() > 10  # expected 30 each

    def test_bad_ratio(self) -> None:
        with pytest.raises(ValueError, match="test_ratio must be in"):
            random_split(_random_data(), 1.5, seed=0)
        with pytest.raises(ValueError, match="test_ratio \\+ valid_ratio must be < 1"):
            random_split(_random_data(), 0.6, valid_ratio=0.5, seed=0)


class TestTemporal:
    def test_leave_last_out_by_timestamp(self) -> None:
        data = Interactions.from_indices(
            [0, 0, 0, 1, 1], [0, 1, 2, 0, 1], n_users=2, n_items=3, timestamps=[30, 10, 20, 5, 5]
        )
        s = leave_last_out(data, by="timestamp")
        _assert_partition(data, s)
        # user 0: latest is item 0 (t=30); user 1: tie at t=5 -> later input row (item 1) is last
        assert _pairs(s.test) == {(0, 0), (1, 1)}

    def test_leave_last_out_given_order_with_valid(self) -> None:
        data = Interactions.from_indices([0, 0, 0, 0], [3, 1, 2, 0], n_users=1, n_items=4)
        s = leave_last_out(data, n_valid=1, by="order")
        assert s.valid is not None
        assert s.test.indices.tolist() == [0] and s.valid.indices.tolist() == [2]
        assert sorted(s.train.indices.tolist()) == [1, 3]

    def test_leave_last_out_short_users_stay_in_train(self) -> None:
        data = Interactions.from_indices([0, 1, 1], [0, 0, 1], n_users=2, n_items=2)
        s = leave_last_out(data, by="order")
        assert s.test.user_counts.tolist() == [0, 1]
        assert s.train.user_counts.tolist() == [1, 1]

    def test_temporal_split_takes_latest(self) -> None:
        data = _random_data(3)
        s = temporal_split(data, 0.25)
        _assert_partition(data, s)
        ts = data.timestamps
        assert ts is not None
        for u in range(data.n_users):
            tr = s.train.timestamps[s.train.indptr[u]:s.train.indptr[u + 1]]  # type: ignore[index]
            te = s.test.timestamps[s.test.indptr[u]:s.test.indptr[u + 1]]  # type: ignore[index]
            if len(te) and len(tr):
                assert te.min() >= tr.max()
            assert len(te) == math.floor(0.25 * data.user_counts[u])

    def test_timestamps_required(self) -> None:
        data = Interactions.from_indices([0, 0], [0, 1], n_users=1, n_items=2)
        with pytest.raises(ValueError, match="no timestamps"):
            temporal_split(data, 0.5)
        with pytest.raises(ValueError, match="needs timestamps"):
            global_temporal_split(data, test_ratio=0.5)

    def test_global_temporal(self) -> None:
        data = _random_data(4)
        s = global_temporal_split(data, test_ratio=0.2, valid_ratio=0.1)
        _assert_partition(data, s)
        assert s.valid is not None
        assert s.train.timestamps.max() <= s.valid.timestamps.min()  # type: ignore[union-attr]
        assert s.valid.timestamps.max() <= s.test.timestamps.min()  # type: ignore[union-attr]
        assert s.test.nnz >= math.floor(0.2 * data.nnz)
        by_cutoff = global_temporal_split(data, cutoff=500)
        assert by_cutoff.test.timestamps.min() >= 500  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="exactly one of"):
            global_temporal_split(data)


class TestSplitChecks:
    def test_overlap_refused_unless_allowed(self) -> None:
        a = Interactions.from_indices([0, 1], [0, 1], n_users=2, n_items=2)
        b = Interactions.from_indices([0], [0], n_users=2, n_items=2)
        assert overlap_count(a, b) == 1
        with pytest.raises(ValueError, match="1 \\(user, item\\) pairs are in both 'train' and 'test'"):
            predefined_split({"train": a, "test": b})
        assert predefined_split({"train": a, "test": b}, allow_overlap=True).test is b

    def test_vocabulary_mismatch(self) -> None:
        a = Interactions.from_raw([1, 2], [1, 2])
        b = Interactions.from_raw([1], [3])
        with pytest.raises(ValueError, match="different user/item vocabularies"):
            Split(train=a, test=b)

    def test_predefined_keys(self) -> None:
        a = Interactions.from_indices([0], [0], n_users=1, n_items=2)
        with pytest.raises(ValueError, match="needs 'train' and 'test'"):
            predefined_split({"train": a, "eval": a})
