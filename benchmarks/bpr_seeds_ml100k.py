"""BPR-MF: recpref vs RecBole vs implicit over several training seeds, same split, same evaluator.

    .venv/bin/python benchmarks/bpr_seeds_ml100k.py [--seeds 1 2 3 4 5]

Split: ml-100k, all ratings positive, random per-user 80/20, seed 2020 (fixed); only the
training seed varies. recpref and RecBole use identical settings (dim 64, Adam 1e-3, batch
2048, 1 uniform negative, 100 epochs, no L2, xavier init, each interaction once per epoch);
implicit BPR uses its tuned settings (docs/benchmarks.md). Prints mean +- std of Recall@20 /
NDCG@20, train seconds, seconds per epoch, and ratios measured in this run.
"""

from __future__ import annotations

import argparse
import statistics as st
from typing import Any

import data_loaders
from recpref.benchmarking import Runner, run_benchmark
from recpref.benchmarking.implicit_runner import ImplicitBPR
from recpref.benchmarking.recbole_runner import RecBoleBPR
from recpref.benchmarking.recpref_runner import RecprefRunner
from recpref.data import random_split


def implicit_bpr_settings() -> dict[str, Any]:
    """implicit BPR's pinned settings, read from the benchmark registry (one source of truth)."""
    from recpref.benchmarking.registry import RUNNERS

    runner = RUNNERS["implicit-bpr"].build(False)
    return {k: v for k, v in runner.params().items() if k != "num_threads"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    split = random_split(data_loaders.load("ml-100k").interactions, test_ratio=0.2, seed=2020)
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    implicit_settings = implicit_bpr_settings()
    for seed in args.seeds:
        settings = dict(model="mf", loss="bpr", epochs=args.epochs, batch_size=2048, lr=1e-3, dim=64, reg=0.0)
        recbole = RecBoleBPR(epochs=args.epochs, batch_size=2048, lr=1e-3, dim=64)
        runners: list[Runner] = [
            RecprefRunner.from_settings(**settings, engine="fused"),
            RecprefRunner.from_settings(**settings, engine="lightning"),
            recbole,
            ImplicitBPR(**implicit_settings),
        ]
        epochs = [args.epochs, args.epochs, args.epochs, int(implicit_settings["iterations"])]
        results = run_benchmark(split, runners, k=(20,), metrics=("recall", "ndcg"), seed=seed, raise_errors=True)
        for r, n_epochs in zip(results, epochs):
            per_epoch = recbole.epoch_seconds if r.name == recbole.name else r.train_seconds / n_epochs
            rows.setdefault(r.name, []).append((r.metrics["recall@20"], r.metrics["ndcg@20"], r.train_seconds,
                                                per_epoch))
            print(f"seed {seed}: {r.name:15s} recall@20={r.metrics['recall@20']:.4f} "
                  f"ndcg@20={r.metrics['ndcg@20']:.4f} {r.train_seconds:.2f}s ({per_epoch:.4f} s/epoch"
                  f"{', RecBole loop only' if r.name == recbole.name else ''})", flush=True)

    def ms(values: list[float]) -> str:
        return f"{st.mean(values):.4f} +- {st.stdev(values) if len(values) > 1 else 0.0:.4f}"

    ref = st.mean(x[2] for x in rows["RecBole BPR"])
    ref_epoch = st.mean(x[3] for x in rows["RecBole BPR"])
    imp = st.mean(x[2] for x in rows["implicit BPR"])
    print(f"\n{len(args.seeds)} training seeds; split seed 2020; full ranking, train items masked; "
          f"implicit BPR {implicit_settings}\n")
    print("| model | recall@20 | ndcg@20 | train s | s / epoch | s / epoch / RecBole loop | time / RecBole "
          "| time / implicit BPR |")
    print("|---|---|---|---|---|---|---|---|")
    for name, vals in rows.items():
        mean_s = st.mean(v[2] for v in vals)
        epoch_s = st.mean(v[3] for v in vals)
        loop = " (loop only)" if name == "RecBole BPR" else ""
        print(f"| {name} | {ms([v[0] for v in vals])} | {ms([v[1] for v in vals])} | {mean_s:.2f} | "
              f"{epoch_s:.4f}{loop} | {epoch_s / ref_epoch:.2f}x | {mean_s / ref:.2f}x | {mean_s / imp:.2f}x |")


if __name__ == "__main__":
    main()
