"""The sequence harness: every runner gets the same test inputs, never a test target, and is
scored by `evaluate`; an oracle runner scores 1.0, a failing runner gets an error row, and a
recpref runner trains, reports per-epoch times and beats a random ranking."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from conftest import cyclic_interactions

from recpref.benchmarking.sequence_harness import RecprefSequenceRunner, SequenceRunner, run_sequence_benchmark
from recpref.data import Sequences, leave_one_out
from recpref.data.sequences import HeldOut, SequenceSplit

N_ITEMS = 30


def _cyclic_split(n_users: int = 120, seed: int = 0) -> SequenceSplit:
    """Each user walks the catalogue in steps of +1 (mod N_ITEMS): the next item is the last + 1."""
    return leave_one_out(Sequences.from_interactions(cyclic_interactions(n_users, seed, n_items=N_ITEMS)))


class NextItemOracle:
    """Scores last item + 1 highest: the true rule of `_cyclic_split`. Records what fit saw."""

    name, tool = "oracle", "test"

    def __init__(self) -> None:
        self.epoch_seconds: list[float] = [0.5, 0.25, 1.0]
        self.seen: tuple[Sequences, HeldOut | None] | None = None

    def fit(self, train: Sequences, valid: HeldOut | None, seed: int) -> None:
        self.seen = (train, valid)

    def score_histories(self, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        assert bool(mask[:, -1].all()), "left padding: the most recent item is the last column"
        nxt = (items[:, -1] + 1) % N_ITEMS
        return torch.nn.functional.one_hot(nxt, N_ITEMS).float()

    def params(self) -> dict[str, Any]:
        return {"rule": "last + 1"}


class Broken(NextItemOracle):
    name = "broken"

    def fit(self, train: Sequences, valid: HeldOut | None, seed: int) -> None:
        raise RuntimeError("cannot train")


def test_oracle_scores_one_and_fit_never_sees_a_test_target() -> None:
    split = _cyclic_split()
    oracle = NextItemOracle()
    assert isinstance(oracle, SequenceRunner)
    [row] = run_sequence_benchmark(split, [oracle], max_len=5, k=(1, 5))
    assert row.error is None and row.metrics["recall@1"] == 1.0 and row.metrics["ndcg@5"] == 1.0
    assert row.n_users == split.test.users.size
    assert row.params["epoch_seconds"] == 0.5 and row.params["epochs_run"] == 3  # the median of the epochs
    assert oracle.seen is not None
    train, valid = oracle.seen
    assert train is split.train and valid is split.valid
    # the training sequences stop two items before each user's end: no test (or validation) target
    assert np.array_equal(train.lengths, split.test.inputs.lengths - 1)


def test_a_failing_runner_gets_an_error_row_and_the_others_still_run() -> None:
    split = _cyclic_split()
    names: list[str] = []
    rows = run_sequence_benchmark(split, [Broken(), NextItemOracle()], max_len=5, k=(1,),
                                  on_start=lambda name, i: names.append(name))
    assert names == ["broken", "oracle"]
    assert rows[0].error is not None and "cannot train" in rows[0].error and rows[0].metrics == {}
    assert rows[1].metrics["recall@1"] == 1.0
    with pytest.raises(RuntimeError, match="cannot train"):
        run_sequence_benchmark(split, [Broken()], max_len=5, raise_errors=True)


def test_bad_arguments_are_refused() -> None:
    split = _cyclic_split()
    with pytest.raises(ValueError, match="max_len"):
        run_sequence_benchmark(split, [NextItemOracle()], max_len=0)
    with pytest.raises(ValueError, match="runners is empty"):
        run_sequence_benchmark(split, [], max_len=5)
    with pytest.raises(ValueError, match="model"):
        RecprefSequenceRunner(model="nope")


def test_recpref_runner_learns_and_reports_epoch_times() -> None:
    split = _cyclic_split()
    runner = RecprefSequenceRunner(model="sasrec", dim=16, max_len=8, batch_size=64, steps_per_epoch=15, lr=1e-2,
                                   epochs=4, loss="full", dropout=0.0, monitor_k=5, min_history=1)
    # the harness window (12) is longer than the model's (8): the runner keeps the most recent 8
    [row] = run_sequence_benchmark(split, [runner], max_len=12, k=(5,), raise_errors=True)
    assert len(runner.epoch_seconds) == 4 and all(s > 0 for s in runner.epoch_seconds)
    assert row.params["epochs_run"] == 4 and row.params["model"] == "sasrec"
    assert row.metrics["recall@5"] > 3 * 5 / N_ITEMS  # well above a random ranking


def test_item_categories_add_diversity_of_the_same_lists() -> None:
    split = _cyclic_split()
    one_category = np.zeros(N_ITEMS, dtype=np.int64)
    all_distinct = np.arange(N_ITEMS)
    [same] = run_sequence_benchmark(split, [NextItemOracle()], max_len=5, k=(5,), item_categories=one_category)
    [apart] = run_sequence_benchmark(split, [NextItemOracle()], max_len=5, k=(5,), item_categories=all_distinct)
    assert same.metrics["diversity@5"] == 0.0 and apart.metrics["diversity@5"] == 1.0
    assert same.metrics["recall@5"] == apart.metrics["recall@5"] == 1.0
