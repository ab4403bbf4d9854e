"""`Sequences`: time order and ties, padded histories, leave-one-out and ComiRec splits, and
ComiRec's training sampler. Every vectorised kernel is checked against a slow pure-Python
reference on small random cases; plus determinism, error messages and the amazon-beauty counts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from recpref.data import (
    Interactions,
    Sequences,
    SequenceSampler,
    comirec_split,
    leave_one_out,
)

SHARED = Path(os.environ.get("RECPREF_DATA_DIR", "../shared/datasets"))


def _random_data(seed: int, n_users: int = 25, n_items: int = 30, min_len: int = 3) -> Interactions:
    """Users with min_len..12 distinct items, shuffled input rows, timestamps with many ties."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        n = int(rng.integers(min_len, 13))
        users += [u] * n
        items += rng.choice(n_items, n, replace=False).tolist()
    perm = rng.permutation(len(users))
    ts = rng.integers(0, 4, len(users))  # 4 distinct times: plenty of ties
    return Interactions.from_indices(np.array(users)[perm], np.array(items)[perm], n_users=n_users,
                                     n_items=n_items, timestamps=ts)


def _ref_sequences(data: Interactions, by: str = "timestamp") -> list[list[int]]:
    """Slow reference: sort each user's (timestamp, input position) in Python."""
    ts = data.timestamps
    assert ts is not None
    out: list[list[int]] = [[] for _ in range(data.n_users)]
    rows = [(int(u), int(t) if by == "timestamp" else 0, int(o), int(i))
            for u, t, o, i in zip(data.rows, ts, data.order, data.indices)]
    for u, t, o, i in sorted(rows):
        out[u].append(i)
    return out


def _ref_pad(seq: list[int], max_len: int, side: str, pad: int) -> tuple[list[int], list[bool]]:
    kept = seq[-max_len:] if seq else []
    fill = [pad] * (max_len - len(kept))
    items = fill + kept if side == "left" else kept + fill
    mask = [False] * len(fill) + [True] * len(kept) if side == "left" else [True] * len(kept) + [False] * len(fill)
    return items, mask


def _as_lists(seqs: Sequences) -> list[list[int]]:
    return [seqs.sequence(u).tolist() for u in range(seqs.n_users)]


# ---------------------------------------------------------------------- order and ties
class TestOrder:
    @pytest.mark.parametrize("seed", range(5))
    @pytest.mark.parametrize("by", ["timestamp", "order"])
    def test_matches_reference(self, seed: int, by: str) -> None:
        data = _random_data(seed)
        seqs = Sequences.from_interactions(data, by=by)  # type: ignore[arg-type]
        assert _as_lists(seqs) == _ref_sequences(data, by)
        assert seqs.lengths.tolist() == data.user_counts.tolist()

    def test_ties_keep_input_order_not_item_id(self) -> None:
        # user 0: items 9, 2, 5 share a timestamp and come in that input order; item 7 is earlier
        data = Interactions.from_indices([0, 0, 0, 0], [9, 2, 5, 7], n_users=1, n_items=10, timestamps=[1, 1, 1, 0])
        assert Sequences.from_interactions(data).sequence(0).tolist() == [7, 9, 2, 5]
        assert Sequences.from_interactions(data, by="order").sequence(0).tolist() == [9, 2, 5, 7]

    def test_to_interactions_round_trip(self) -> None:
        seqs = Sequences.from_interactions(_random_data(1))
        back = Sequences.from_interactions(seqs.to_interactions())
        assert _as_lists(back) == _as_lists(seqs) and back.user_vocab == seqs.user_vocab

    def test_empty_and_missing_timestamps(self) -> None:
        data = _random_data(0)
        with pytest.raises(ValueError, match="input is empty"):
            Sequences.from_interactions(data.select(np.zeros(data.nnz, dtype=bool)))
        no_ts = Interactions.from_indices([0, 0], [1, 0], n_users=1, n_items=2)
        with pytest.raises(ValueError, match="no timestamps"):
            Sequences.from_interactions(no_ts)
        assert Sequences.from_interactions(no_ts, by="order").sequence(0).tolist() == [1, 0]
        with pytest.raises(ValueError, match="by must be"):
            Sequences.from_interactions(no_ts, by="time")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- padding
class TestPadded:
    @pytest.mark.parametrize("seed", range(3))
    @pytest.mark.parametrize("side", ["left", "right"])
    @pytest.mark.parametrize("max_len", [1, 4, 20])
    def test_matches_reference(self, seed: int, side: str, max_len: int) -> None:
        seqs = Sequences.from_interactions(_random_data(seed))
        users = np.random.default_rng(seed).integers(0, seqs.n_users, 40)
        p = seqs.padded(users, max_len, side=side)  # type: ignore[arg-type]
        assert p.items.shape == p.mask.shape == (40, max_len) and p.items.dtype == torch.int64
        for b, u in enumerate(users):
            items, mask = _ref_pad(seqs.sequence(int(u)).tolist(), max_len, side, seqs.n_items)
            assert p.items[b].tolist() == items and p.mask[b].tolist() == mask
            assert int(p.lengths[b]) == sum(mask)

    def test_item_zero_is_real_and_pads_are_n_items(self) -> None:
        data = Interactions.from_indices([0, 0, 1], [0, 2, 0], n_users=2, n_items=3, timestamps=[0, 1, 0])
        seqs = Sequences.from_interactions(data)
        p = seqs.padded(max_len=3)  # left padding by default
        assert seqs.pad_index == 3
        assert p.items.tolist() == [[3, 0, 2], [3, 3, 0]]
        assert p.mask.tolist() == [[False, True, True], [False, False, True]]
        default = seqs.padded()  # max_len = longest sequence
        assert default.items.tolist() == [[0, 2], [3, 0]]

    def test_empty_rows_are_all_padding(self) -> None:
        data = Interactions.from_indices([1], [0], n_users=2, n_items=1, timestamps=[0])
        p = Sequences.from_interactions(data).padded([0, 1], 2, side="right")
        assert p.items.tolist() == [[1, 1], [0, 1]] and p.lengths.tolist() == [0, 1]

    def test_bad_arguments(self) -> None:
        seqs = Sequences.from_interactions(_random_data(0))
        with pytest.raises(ValueError, match="max_len must be an integer >= 1, got 0"):
            seqs.padded(None, 0)
        with pytest.raises(ValueError, match="user index 99 out of range"):
            seqs.padded([0, 99], 3)
        with pytest.raises(ValueError, match="no users given"):
            seqs.padded([], 3)
        with pytest.raises(ValueError, match="side must be"):
            seqs.padded([0], 3, side="middle")  # type: ignore[arg-type]


class TestEncode:
    def _seqs(self) -> Sequences:
        data = Interactions.from_raw(["u1", "u1", "u2"], ["a", "b", "c"], timestamps=[0, 1, 0])
        return Sequences.from_interactions(data)

    def test_matches_reference(self) -> None:
        seqs = self._seqs()
        hist = [["c", "a", "c", "b"], ["b"]]  # repeats allowed in a new history
        p = seqs.encode(hist, 3)
        for b, h in enumerate(hist):
            ref, mask = _ref_pad([int(seqs.item_vocab.index([x])[0]) for x in h], 3, "left", 3)
            assert p.items[b].tolist() == ref and p.mask[b].tolist() == mask
        assert p.items.tolist() == [[0, 2, 1], [3, 3, 1]]

    def test_errors_name_the_value(self) -> None:
        seqs = self._seqs()
        with pytest.raises(ValueError, match="history 1: .*unknown item id 'zz'"):
            seqs.encode([["a"], ["b", "zz"]], 3)
        with pytest.raises(ValueError, match="history 0 is empty"):
            seqs.encode([[]], 3)
        with pytest.raises(ValueError, match="no histories given"):
            seqs.encode([], 3)
        with pytest.raises(ValueError, match="max_len must be an integer >= 1, got -2"):
            seqs.encode([["a"]], -2)


# ---------------------------------------------------------------------- splits
class TestLeaveOneOut:
    @pytest.mark.parametrize("seed", range(4))
    def test_matches_reference(self, seed: int) -> None:
        seqs = Sequences.from_interactions(_random_data(seed))
        s = leave_one_out(seqs)
        assert s.valid is not None
        ref = _as_lists(seqs)
        assert _as_lists(s.train) == [r[:-2] for r in ref]
        assert _as_lists(s.valid.inputs) == [r[:-2] for r in ref]
        assert _as_lists(s.valid.targets) == [r[-2:-1] for r in ref]
        assert _as_lists(s.test.inputs) == [r[:-1] for r in ref]
        assert _as_lists(s.test.targets) == [r[-1:] for r in ref]
        assert s.test.users.tolist() == s.valid.users.tolist() == list(range(seqs.n_users))

    def test_without_validation_needs_two_events(self) -> None:
        data = Interactions.from_raw(["a", "a", "b", "b", "b"], [1, 2, 3, 4, 5], timestamps=[0, 1, 0, 1, 2])
        seqs = Sequences.from_interactions(data)
        with pytest.raises(ValueError, match=r"1 users have fewer than 3 events .*user 'a' \(2 events\)"):
            leave_one_out(seqs)
        s = leave_one_out(seqs, valid=False)
        assert s.valid is None and _as_lists(s.train) == [[0], [2, 3]]
        assert _as_lists(s.test.targets) == [[1], [4]]

    def test_one_event_and_empty_users(self) -> None:
        data = Interactions.from_raw([7, 8, 8], [1, 2, 3], timestamps=[0, 0, 1])
        with pytest.raises(ValueError, match=r"fewer than 2 events .*user 7 \(1 events\)"):
            leave_one_out(Sequences.from_interactions(data), valid=False)
        # a user with no events at all is not part of the split
        data = Interactions.from_indices([1, 1, 1], [0, 1, 2], n_users=2, n_items=3, timestamps=[0, 1, 2])
        s = leave_one_out(Sequences.from_interactions(data))
        assert s.test.users.tolist() == [1] and s.test.targets.lengths.tolist() == [0, 1]


def _ref_comirec(seqs: Sequences, seed: int) -> dict[str, list[list[int]]]:
    """Slow reference given the same seeded permutation of the users with events."""
    ref = _as_lists(seqs)
    active = [u for u in range(seqs.n_users) if ref[u]]
    perm = np.random.default_rng(seed).permutation(np.array(active)).tolist()
    n1, n2 = int(len(perm) * 0.8 + 1e-9), int(len(perm) * 0.8 + 1e-9) + int(len(perm) * 0.1 + 1e-9)
    group = {u: 0 if r < n1 else 1 if r < n2 else 2 for r, u in enumerate(perm)}
    out: dict[str, list[list[int]]] = {k: [[] for _ in ref] for k in ("train", "vi", "vt", "ti", "tt")}
    for u, seq in enumerate(ref):
        if u not in group:
            continue
        k = int(len(seq) * 0.8 + 1e-9)
        if group[u] == 0:
            out["train"][u] = seq
        else:
            p = "v" if group[u] == 1 else "t"
            out[p + "i"][u], out[p + "t"][u] = seq[:k], seq[k:]
    return out


class TestComiRecSplit:
    @pytest.mark.parametrize("seed", range(4))
    def test_matches_reference(self, seed: int) -> None:
        data = _random_data(seed, n_users=40, min_len=2)
        seqs = Sequences.from_interactions(data)
        s = comirec_split(seqs, seed=seed)
        ref = _ref_comirec(seqs, seed)
        assert s.valid is not None
        assert _as_lists(s.train) == ref["train"]
        assert _as_lists(s.valid.inputs) == ref["vi"] and _as_lists(s.valid.targets) == ref["vt"]
        assert _as_lists(s.test.inputs) == ref["ti"] and _as_lists(s.test.targets) == ref["tt"]
        # 8:1:1 of 40 users, disjoint, every held-out user has an input and a target
        assert (int((s.train.lengths > 0).sum()), s.valid.users.size, s.test.users.size) == (32, 4, 4)
        for held in (s.valid, s.test):
            assert (held.inputs.lengths[held.users] >= 1).all() and (held.targets.lengths[held.users] >= 1).all()
        assert not set(s.valid.users) & set(s.test.users)

    def test_deterministic_under_seed(self) -> None:
        seqs = Sequences.from_interactions(_random_data(0, n_users=40))
        a, b, c = (comirec_split(seqs, seed=k) for k in (3, 3, 4))
        assert a.test.users.tolist() == b.test.users.tolist() != c.test.users.tolist()
        assert _as_lists(a.train) == _as_lists(b.train)

    def test_errors(self) -> None:
        data = Interactions.from_raw(["a", "b", "b"], [1, 2, 3], timestamps=[0, 0, 1])
        with pytest.raises(ValueError, match=r"fewer than 2 events .*user 'a' \(1 events\)"):
            comirec_split(Sequences.from_interactions(data), seed=0)
        seqs = Sequences.from_interactions(_random_data(0))
        with pytest.raises(ValueError, match="train_ratio must be in"):
            comirec_split(seqs, seed=0, train_ratio=1.2)
        with pytest.raises(ValueError, match="train_ratio \\+ valid_ratio must be < 1"):
            comirec_split(seqs, seed=0, train_ratio=0.8, valid_ratio=0.2)
        with pytest.raises(ValueError, match="input_ratio must be in"):
            comirec_split(seqs, seed=0, input_ratio=1.0)
        assert comirec_split(seqs, seed=0, valid_ratio=0.0).valid is None


# ---------------------------------------------------------------------- sampling
def _check_batch_against_reference(seqs: Sequences, sampler: SequenceSampler, n: int, seed: int,
                                   device: str = "cpu") -> None:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    batch = sampler.sample(n, gen)
    for b in range(n):
        u, k = int(batch.users[b]), int(batch.cuts[b])
        seq = seqs.sequence(u).tolist()
        assert sampler.min_history <= k < len(seq)
        items, mask = _ref_pad(seq[:k], sampler.max_len, sampler.side, seqs.n_items)
        assert batch.history[b].tolist() == items and batch.mask[b].tolist() == mask
        assert int(batch.targets[b]) == seq[k]


class TestSampler:
    @pytest.mark.parametrize("seed", range(3))
    @pytest.mark.parametrize("side", ["left", "right"])
    @pytest.mark.parametrize(("max_len", "min_history"), [(3, 1), (5, 4), (20, 2)])
    def test_matches_reference(self, seed: int, side: str, max_len: int, min_history: int) -> None:
        seqs = Sequences.from_interactions(_random_data(seed))
        sampler = SequenceSampler(seqs, max_len, min_history=min_history, side=side)  # type: ignore[arg-type]
        _check_batch_against_reference(seqs, sampler, 64, seed)
        assert set(sampler.users.tolist()) == {u for u in range(seqs.n_users) if seqs.lengths[u] > min_history}

    def test_deterministic_under_generator(self) -> None:
        sampler = SequenceSampler(Sequences.from_interactions(_random_data(0)), 5, min_history=1)
        draws = []
        for seed in (7, 7, 8):
            gen = torch.Generator().manual_seed(seed)
            draws.append(sampler.sample(32, gen))
        assert torch.equal(draws[0].history, draws[1].history) and torch.equal(draws[0].cuts, draws[1].cuts)
        assert not torch.equal(draws[0].cuts, draws[2].cuts)

    def test_users_and_cuts_are_uniform(self) -> None:
        # user 0 has 10 items (cuts 2..9), user 1 has 3 (cut 2), user 2 has 2 (never drawn)
        data = Interactions.from_indices([0] * 10 + [1] * 3 + [2] * 2, list(range(10)) + [0, 1, 2] + [0, 1],
                                         n_users=3, n_items=10, timestamps=list(range(10)) + [0, 1, 2, 0, 1])
        sampler = SequenceSampler(Sequences.from_interactions(data), 4, min_history=2)
        batch = sampler.sample(8000, torch.Generator().manual_seed(0))
        counts = np.bincount(batch.users.numpy(), minlength=3)
        assert counts[2] == 0 and abs(counts[0] - 4000) < 300
        cuts = np.bincount(batch.cuts[batch.users == 0].numpy(), minlength=10)
        assert cuts[:2].sum() == 0 and cuts[2:].min() > 400  # expected ~500 each
        assert set(batch.cuts[batch.users == 1].tolist()) == {2}

    def test_errors(self) -> None:
        seqs = Sequences.from_interactions(_random_data(0))
        with pytest.raises(ValueError, match="max_len must be an integer >= 1, got 0"):
            SequenceSampler(seqs, 0)
        with pytest.raises(ValueError, match="min_history must be an integer >= 1, got 0"):
            SequenceSampler(seqs, 5, min_history=0)
        with pytest.raises(ValueError, match="no user has more than min_history=50 events"):
            SequenceSampler(seqs, 5, min_history=50)
        sampler = SequenceSampler(seqs, 5, min_history=1)
        with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
            sampler.sample(0, torch.Generator())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sampler_and_padding_on_cuda() -> None:
    seqs = Sequences.from_interactions(_random_data(0))
    sampler = SequenceSampler(seqs, 5, min_history=1, device="cuda")
    _check_batch_against_reference(seqs, sampler, 64, 0, device="cuda")
    assert sampler.sample(8, torch.Generator(device="cuda")).history.device.type == "cuda"
    with pytest.raises(ValueError, match="generator is on cpu"):
        sampler.sample(8, torch.Generator())
    cpu, gpu = seqs.padded(None, 6), seqs.padded(None, 6, device="cuda")
    assert torch.equal(cpu.items, gpu.items.cpu()) and torch.equal(cpu.mask, gpu.mask.cpu())


# ---------------------------------------------------------------------- real data
def test_amazon_beauty_counts_and_leave_one_out() -> None:
    root = SHARED / "amazon-beauty"
    if not root.is_dir():
        pytest.skip(f"amazon-beauty not found under {root}; set RECPREF_DATA_DIR to the shared datasets directory")
    import data_loaders

    data = data_loaders.load("amazon-beauty", root=root).interactions
    seqs = Sequences.from_interactions(data)
    assert (seqs.n_users, seqs.n_items, seqs.nnz) == (22363, 12101, 198502)
    raw = seqs.item_vocab.to_raw(seqs.sequence(int(seqs.user_vocab.index([1])[0])))
    assert raw.tolist() == [1, 2, 3, 4, 5]  # user 1's line in Beauty.txt
    s = leave_one_out(seqs)
    assert s.valid is not None
    for held in (s.valid, s.test):
        assert held.users.size == 22363 and (held.targets.lengths == 1).all()
    assert s.train.nnz == 198502 - 2 * 22363
    assert (s.test.inputs.lengths == seqs.lengths - 1).all()
    batch = SequenceSampler(s.train, 50, min_history=1).sample(256, torch.Generator().manual_seed(0))
    assert batch.history.shape == (256, 50) and bool((batch.targets < seqs.n_items).all())
