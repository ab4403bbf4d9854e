from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recpref.benchmarking.recbole_runner import RecBoleBPR
from recpref.data import Interactions

pytest.importorskip("recbole")


def _clustered(n_users: int = 60, n_items: int = 40) -> Interactions:
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(n_users):
        pool = np.arange(n_items // 2) + (n_items // 2) * (u % 2)
        chosen = rng.choice(pool, size=10, replace=False)
        users += [u] * 10
        items += chosen.tolist()
    # item ids as strings, in an order unlike RecBole's internal remapping
    return Interactions.from_raw([f"u{u}" for u in users], [f"i{(i * 7) % n_items}" for i in items])


def test_recbole_bpr_learns_clusters_through_the_id_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = _clustered()
    had_float_ = hasattr(np, "float_")
    runner = RecBoleBPR(epochs=30, batch_size=64, lr=0.01, dim=16)
    runner.fit(data, seed=1)
    assert hasattr(np, "float_") == had_float_  # numpy shims removed again
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no log/, saved/, log_tensorboard/
    scores = runner.score_all(torch.arange(data.n_users))
    assert scores.shape == (data.n_users, data.n_items) and scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    # users' own cluster (items they share with same-parity users) must score higher
    dense = data.matrix.toarray().astype(bool)
    own = np.zeros_like(dense)
    for u in range(data.n_users):
        raw_u = int(str(data.user_vocab.raw[u])[1:])
        mates = [v for v in range(data.n_users) if int(str(data.user_vocab.raw[v])[1:]) % 2 == raw_u % 2]
        own[u] = dense[mates].any(axis=0)
    s = scores.numpy()
    assert s[own].mean() > s[~own].mean() + 0.5


def test_importing_the_runner_does_not_import_recbole() -> None:
    code = "import sys, recpref.benchmarking, recpref.benchmarking.recbole_runner; print('recbole' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ})
    assert out.stdout.strip() == "False"


def test_fit_leaves_global_logging_and_rngs_as_it_found_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging
    import random

    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        random.seed(123)
        np.random.seed(123)
        torch.manual_seed(123)
        py, nps, ts = random.getstate(), np.random.get_state(), torch.get_rng_state()
        RecBoleBPR(epochs=2, batch_size=64, lr=0.01, dim=8).fit(_clustered(), seed=7)
        assert root.level == logging.DEBUG  # RecBole's INFO lines were silenced only during fit
        assert random.getstate() == py
        after = np.random.get_state()
        assert after[0] == nps[0] and np.array_equal(after[1], nps[1]) and after[2:] == nps[2:]
        assert torch.equal(torch.get_rng_state(), ts)
    finally:
        root.setLevel(old_level)


def test_epoch_seconds_count_only_recboles_training_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = RecBoleBPR(epochs=3, batch_size=64, lr=0.01, dim=8)
    runner.fit(_clustered(), seed=1)
    assert runner.epoch_seconds > 0 and runner.setup_seconds > 0
    assert runner.epoch_seconds * runner.epochs + runner.setup_seconds == pytest.approx(runner.train_seconds)
