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
