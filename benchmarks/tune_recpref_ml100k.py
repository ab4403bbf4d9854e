"""Choose the settings of recpref's tuned ml-100k benchmark rows on a validation split carved
from the *training* part (80/20 again, seed 2021), exactly as tune_peers_ml100k.py does for the
peers: every grid point is a benchmark row run by the harness (`run_benchmark`) on that split.
Selection: validation NDCG@20; a choice at a grid's edge is flagged (widen the grid).

    .venv/bin/python benchmarks/tune_recpref_ml100k.py [--rows lightgcn,mf-ssm]

Rows: ``lightgcn`` (LightGCN + BPR: the learning rate) and ``mf-ssm`` (MF + sampled softmax
against one shared pool of 256 items per step: temperature, learning rate and epochs).
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import data_loaders
from recpref.benchmarking import format_table, run_benchmark
from recpref.benchmarking.recpref_runner import RecprefRunner
from recpref.data import Split, random_split

ROWS: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {
    "lightgcn": (dict(model="lightgcn", loss="bpr", epochs=50, batch_size=2048, dim=64, reg=1e-4, n_layers=3),
                 dict(lr=[1e-3, 5e-3, 1e-2])),
    "mf-ssm": (dict(model="mf", loss="ssm", neg_pool=256, batch_size=2048, dim=64, reg=0.0),
               dict(temperature=[0.2, 0.4, 0.8, 1.6], lr=[5e-4, 1e-3, 2e-3], epochs=[10, 25, 50, 100])),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(ROWS))
    args = parser.parse_args()
    rows = args.rows.split(",")
    if set(rows) - set(ROWS):
        parser.error(f"--rows: choices {sorted(ROWS)}, got {args.rows!r}")
    train = random_split(data_loaders.load("ml-100k").interactions, test_ratio=0.2, seed=2020).train
    inner = random_split(train, test_ratio=0.2, seed=2021)
    for row in rows:
        base, grid = ROWS[row]
        points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
        runners = [RecprefRunner.from_settings(**base, **p, name=f"{row} " + " ".join(f"{k}={v:g}" for k, v in p.items()))
                   for p in points]
        results = run_benchmark(Split(train=inner.train, test=inner.test), runners, k=(20,),
                                metrics=("recall", "ndcg"), seed=2020, raise_errors=True,
                                on_result=lambda r: print(f"{r.name}: ndcg@20={r.metrics['ndcg@20']:.4f}", flush=True))
        print(format_table(results, columns=("recall@20", "ndcg@20")))
        best = max(range(len(points)), key=lambda j: results[j].metrics["ndcg@20"])
        edges = [f"{k}={v:g}" for k, v in points[best].items() if len(grid[k]) > 1 and v in (grid[k][0], grid[k][-1])]
        print(f"best {row} (validation NDCG@20): {points[best]}"
              f"{' at the grid edge for ' + ', '.join(edges) + ': widen the grid' if edges else ''}", flush=True)


if __name__ == "__main__":
    main()
