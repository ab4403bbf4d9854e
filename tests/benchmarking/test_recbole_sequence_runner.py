"""RecBole's SASRec / GRU4Rec / SINE as sequence-harness runners: RecBole trains on exactly the
samples of recpref's training sequences, its scores come back in recpref's item order, it learns
the cyclic next-item rule, early-stops on our validation users, and leaves no trace behind."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import cyclic_interactions

from recpref.benchmarking.recbole_sequence_runner import RecBoleSequential
from recpref.benchmarking.sequence_harness import SequenceRunner, run_sequence_benchmark
from recpref.data import Sequences, leave_one_out
from recpref.data.sequences import HeldOut, SequenceSplit

pytest.importorskip("recbole")

N_ITEMS = 30


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny models: intra-op threads only add synchronisation, which on a loaded machine costs
    # seconds per step. Restored after each test.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cyclic_split(n_users: int = 120, seed: int = 0, lengths: tuple[int, int] = (6, 11),
                  n_extra_items: int = 0) -> SequenceSplit:
    """Each user walks the catalogue in steps of +1 (mod N_ITEMS), ``lengths`` = [low, high)
    events; ``n_extra_items`` items no user touches join the vocabulary (`conftest.cyclic_interactions`)."""
    data = cyclic_interactions(n_users, seed, n_items=N_ITEMS, lengths=lengths, n_extra_items=n_extra_items)
    return leave_one_out(Sequences.from_interactions(data))


def _samples(train: Sequences, max_len: int) -> list[tuple[int, tuple[int, ...], int]]:
    """Every (user, last max_len items before position t, item t) of the training sequences."""
    out = []
    for u in range(train.n_users):
        seq = train.sequence(u).tolist()
        out += [(u, tuple(seq[max(0, t - max_len):t]), seq[t]) for t in range(1, len(seq))]
    return sorted(out)


def _runner(model: str = "SASRec", **overrides: Any) -> RecBoleSequential:
    settings: dict[str, Any] = {"epochs": 4, "batch_size": 64, "lr": 1e-2, "dim": 16, "max_len": 8, "patience": 3}
    extra = {"SASRec": {"n_layers": 1, "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0},
             "GRU4Rec": {"dropout_prob": 0.0}, "SINE": {}}[model]
    return RecBoleSequential(model, **{**settings, **extra, **overrides})  # type: ignore[arg-type]


def test_recbole_trains_on_exactly_the_samples_of_our_training_sequences() -> None:
    # 3..10 events: some users keep a single training item (no sample); max_len 3 truncates
    split = _cyclic_split(lengths=(3, 11), seed=3)
    assert (split.train.lengths == 1).any() and (split.train.lengths > 4).any()
    runner = _runner(max_len=3)
    ours = _samples(split.train, 3)
    assert len(ours) == int((split.train.lengths - 1).clip(min=0).sum())
    assert runner.training_samples(split.train) == ours


def test_sasrec_learns_the_rule_and_scores_come_back_in_our_item_order() -> None:
    split = _cyclic_split(n_extra_items=2)  # two items in no sequence still get a column
    runner = _runner("SASRec")
    assert isinstance(runner, SequenceRunner)
    runner.fit(split.train, split.valid, seed=0)
    assert len(runner.epoch_seconds) <= 4 and all(s > 0 for s in runner.epoch_seconds)
    # oracle check on hand-made histories: ... j-2, j-1, j -> j + 1, left-padded to 10 columns
    n = N_ITEMS + 2
    hist = torch.tensor([[(j - 3 + t) % N_ITEMS for t in range(4)] for j in range(N_ITEMS)])
    items = torch.cat([torch.full((N_ITEMS, 6), n), hist], dim=1)
    mask = items != n
    scores = runner.score_histories(items, mask)
    assert scores.shape == (N_ITEMS, n) and scores.dtype == torch.float32 and torch.isfinite(scores).all()
    top = scores.argmax(1)
    assert (top == (torch.arange(N_ITEMS) + 1) % N_ITEMS).float().mean() >= 0.9
    # the same histories without padding columns, or right-aligned in a wider window, score the same
    assert torch.allclose(runner.score_histories(hist, torch.ones_like(hist, dtype=torch.bool)), scores, atol=1e-5)
    wide = torch.cat([torch.full((N_ITEMS, 20), n), hist], dim=1)
    assert torch.allclose(runner.score_histories(wide, wide != n), scores, atol=1e-5)
    with pytest.raises(ValueError, match="no item"):
        runner.score_histories(torch.full((1, 4), n), torch.zeros(1, 4, dtype=torch.bool))


def test_all_three_models_run_in_the_harness() -> None:
    split = _cyclic_split()
    runners = [_runner("SASRec"), _runner("GRU4Rec"), _runner("SINE")]
    # the harness window (5) is shorter than the models' (8): SINE needs exactly max_len columns
    rows = run_sequence_benchmark(split, runners, max_len=5, k=(5, 10), raise_errors=True)
    assert [r.name for r in rows] == ["RecBole SASRec", "RecBole GRU4Rec", "RecBole SINE"]
    for row in rows:
        assert row.error is None and row.tool == "recbole" and row.n_users == split.test.users.size
        assert all(np.isfinite(v) for v in row.metrics.values()) and set(row.metrics) == {
            "recall@5", "recall@10", "ndcg@5", "ndcg@10"}
        assert 1 <= row.params["epochs_run"] <= 4 and row.params["epoch_seconds"] > 0
    for row in rows[:2]:  # SINE may learn the rule worse
        assert row.metrics["recall@5"] > 3 * 5 / N_ITEMS


class _Spy(RecBoleSequential):
    """Scripted validation scores; records the scores of a fixed history at each validation."""

    def __init__(self, script: list[float], **kwargs: Any) -> None:
        super().__init__("GRU4Rec", **kwargs)
        self.script = script
        self.snapshots: list[torch.Tensor] = []
        self.seen: tuple[Sequences, HeldOut | None] | None = None

    def fit(self, train: Sequences, valid: HeldOut | None, seed: int) -> None:
        self.seen = (train, valid)
        super().fit(train, valid, seed)

    def _validator(self, valid: HeldOut) -> Any:
        def validate() -> float:
            self.snapshots.append(self.score_histories(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool)))
            return self.script[len(self.snapshots) - 1]

        return validate


def test_early_stopping_keeps_the_best_epoch_and_fit_never_sees_a_test_target() -> None:
    split = _cyclic_split()
    spy = _Spy([0.5, 0.9, 0.4, 0.3, 0.95, 0.1], epochs=6, batch_size=64, lr=1e-2, dim=16, max_len=8, patience=2,
               dropout_prob=0.0)
    [row] = run_sequence_benchmark(split, [spy], max_len=8, k=(5,), raise_errors=True)
    # two validations without gain after the best (epoch 1): stop after epoch 3, keep epoch 1's weights
    assert len(spy.epoch_seconds) == 4 and spy.best_epoch == 1 and row.params["best_epoch"] == 1
    final = spy.score_histories(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool))
    assert torch.equal(final, spy.snapshots[1]) and not torch.equal(final, spy.snapshots[3])
    assert spy.seen is not None and spy.seen[0] is split.train and spy.seen[1] is split.valid
    # without validation every epoch runs and the last weights stay
    spy2 = _Spy([], epochs=3, batch_size=64, lr=1e-2, dim=16, max_len=8, patience=1)
    spy2.fit(split.train, None, seed=0)
    assert len(spy2.epoch_seconds) == 3 and spy2.best_epoch == 2 and spy2.snapshots == []


def test_fit_is_seeded_and_leaves_no_files_or_global_state_behind(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    split = _cyclic_split(n_users=60)
    had_float_ = hasattr(np, "float_")
    cuda_env = os.environ.get("CUDA_VISIBLE_DEVICES")
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    nps: Any = np.random.get_state()
    py, ts = random.getstate(), torch.get_rng_state()
    hist, mask = torch.tensor([[4, 5, 6], [7, 8, 9]]), torch.ones(2, 3, dtype=torch.bool)
    scores = []
    for seed in (7, 7, 8):
        runner = _runner("SASRec", epochs=1)
        runner.fit(split.train, split.valid, seed=seed)
        scores.append(runner.score_histories(hist, mask))
    assert torch.equal(scores[0], scores[1]) and not torch.equal(scores[0], scores[2])
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no saved/, log/, log_tensorboard/
    assert hasattr(np, "float_") == had_float_ and os.environ.get("CUDA_VISIBLE_DEVICES") == cuda_env
    assert random.getstate() == py and torch.equal(torch.get_rng_state(), ts)
    after: Any = np.random.get_state()
    assert after[0] == nps[0] and np.array_equal(after[1], nps[1]) and after[2:] == nps[2:]


def test_bpr_loss_trains_and_a_failed_fit_leaves_no_model() -> None:
    split = _cyclic_split(n_users=60)
    runner = _runner("GRU4Rec", loss_type="BPR", epochs=2)
    runner.fit(split.train, split.valid, seed=0)
    scores = runner.score_histories(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool))
    assert scores.shape == (1, N_ITEMS) and torch.isfinite(scores).all() and len(runner.epoch_seconds) == 2
    with pytest.raises(ValueError, match="no events"):
        runner.fit(split.train.select(np.zeros(split.train.nnz, dtype=bool)), None, seed=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        runner.score_histories(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool))


def test_bad_settings_are_refused_naming_the_argument() -> None:
    with pytest.raises(ValueError, match="model must be one of SASRec, GRU4Rec, SINE"):
        RecBoleSequential("BERT4Rec")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="loss_type must be one of CE, BPR"):
        RecBoleSequential("SASRec", loss_type="NLL")  # type: ignore[arg-type]
    for name, value in (("epochs", 0), ("batch_size", 0), ("dim", 0), ("max_len", 0), ("patience", 0),
                        ("valid_k", 0), ("lr", 0.0), ("lr", float("nan"))):
        bad: dict[str, Any] = {name: value}
        with pytest.raises(ValueError, match=name):
            RecBoleSequential("GRU4Rec", **bad)
    with pytest.raises(ValueError, match="device"):
        RecBoleSequential("SASRec", device="gpu")
    with pytest.raises(ValueError, match="'dropout_prob' is not a RecBole SASRec setting.*n_layers"):
        RecBoleSequential("SASRec", dropout_prob=0.1)
    with pytest.raises(ValueError, match="hidden_size is set by the dim argument"):
        RecBoleSequential("SASRec", hidden_size=32)
    with pytest.raises(ValueError, match="multiple of n_heads"):
        RecBoleSequential("SASRec", dim=10, n_heads=4)
    with pytest.raises(RuntimeError, match="not fitted"):
        RecBoleSequential("SINE").score_histories(torch.zeros(1, 2, dtype=torch.long),
                                                  torch.ones(1, 2, dtype=torch.bool))
    assert RecBoleSequential("SINE", interest_size=4).params()["interest_size"] == 4


def test_importing_the_runner_does_not_import_recbole() -> None:
    code = "import sys, recpref.benchmarking.recbole_sequence_runner; print('recbole' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ})
    assert out.stdout.strip() == "False"
