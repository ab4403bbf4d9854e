"""Choose recpref LightGCN's learning rate for the ml-100k benchmark on a validation split carved
from the *training* part (80/20 again, seed 2021), exactly as tune_peers_ml100k.py does for
the peers: every grid point is a benchmark row run by the harness (`run_benchmark`) on that
split. Selection: validation NDCG@20; a choice at the grid's edge is flagged (widen the grid).

    .venv/bin/python benchmarks/tune_recpref_ml100k.py
"""

from __future__ import annotations

import data_loaders
from recpref.benchmarking import format_table, run_benchmark
from recpref.benchmarking.recpref_runner import RecprefRunner
from recpref.data import Split, random_split

GRID = (1e-3, 5e-3, 1e-2)


def main() -> None:
    train = random_split(data_loaders.load("ml-100k").interactions, test_ratio=0.2, seed=2020).train
    inner = random_split(train, test_ratio=0.2, seed=2021)
    runners = [RecprefRunner.from_settings(model="lightgcn", loss="bpr", epochs=50, batch_size=2048, lr=lr, dim=64,
                                           reg=1e-4, n_layers=3, name=f"lightgcn lr={lr:g}") for lr in GRID]
    results = run_benchmark(Split(train=inner.train, test=inner.test), runners, k=(20,), metrics=("recall", "ndcg"),
                            seed=2020, raise_errors=True,
                            on_result=lambda r: print(f"{r.name}: ndcg@20={r.metrics['ndcg@20']:.4f}", flush=True))
    print(format_table(results, columns=("recall@20", "ndcg@20")))
    best = max(range(len(GRID)), key=lambda j: results[j].metrics["ndcg@20"])
    edge = " (at the grid's edge: widen the grid)" if best in (0, len(GRID) - 1) else ""
    print(f"best lr (validation NDCG@20): {GRID[best]:g}{edge}")


if __name__ == "__main__":
    main()
