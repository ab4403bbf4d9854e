"""Choose recpref LightGCN's learning rate for the ml-100k benchmark on a validation split carved
from the *training* part (80/20 again, seed 2021), exactly as tune_peers_ml100k.py does for
the peers. Selection: validation NDCG@20.

    .venv/bin/python benchmarks/tune_recpref_ml100k.py
"""

from __future__ import annotations

import time

import data_loaders
from recpref.benchmarking.recpref_runner import RecprefRunner
from recpref.data import random_split
from recpref.evaluation import evaluate


def main() -> None:
    train = random_split(data_loaders.load("ml-100k").interactions, test_ratio=0.2, seed=2020).train
    inner = random_split(train, test_ratio=0.2, seed=2021)
    rows = []
    for lr in (1e-3, 5e-3, 1e-2):
        runner = RecprefRunner.from_settings(model="lightgcn", loss="bpr", epochs=50, batch_size=2048, lr=lr, dim=64, reg=1e-4, n_layers=3)
        t0 = time.perf_counter()
        runner.fit(inner.train, seed=2020)
        sec = time.perf_counter() - t0
        res = evaluate(runner.score_all, inner.train, inner.test, k=(20,), metrics=("recall", "ndcg"))
        rows.append((res["ndcg@20"], lr))
        print(f"lightgcn lr={lr:g}: ndcg@20={res['ndcg@20']:.4f} recall@20={res['recall@20']:.4f} {sec:.1f}s", flush=True)
    print(f"best lr (validation NDCG@20): {max(rows)[1]:g}")


if __name__ == "__main__":
    main()
