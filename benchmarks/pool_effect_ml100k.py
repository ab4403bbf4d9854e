"""What a shared negative pool costs in accuracy: per-positive exact negatives vs one shared pool
per batch, with each user's own items in the pool masked out of the loss or left in.

    .venv/bin/python benchmarks/pool_effect_ml100k.py [--seeds 3] [--negatives 64] [--losses ssm,ccl,bpr]

ml-100k (all ratings positive, random per-user 80/20 split, seed 2020; 10% of train held out,
seed 2021, to stop early on validation NDCG@20, patience 5). MF dim 64, batch 2048, Adam, the
same settings for every variant (SSM: those of the tuned ml-100k benchmark row; not tuned per
variant: this isolates the negatives). ml-100k
is dense (a user holds ~6% of the catalogue), so an unmasked pool puts ~6% of a user's own items
among the negatives: the effect is larger here than on sparse data like Gowalla (~0.07%).
Scores: test Recall@20 / NDCG@20, full ranking, every train item (validation part included) masked; mean and standard deviation
over seeds (the seed draws the initialisation, the stream and the negatives).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

import data_loaders
from recpref.data import random_split
from recpref.evaluation import evaluate
from recpref.serving import Recommender

LOSSES: dict[str, dict[str, Any]] = {
    "ssm": dict(loss="ssm", temperature=0.8, lr=1e-3, reg=0.0),  # the tuned ml-100k row's settings
    "ccl": dict(loss="ccl", margin=0.8, negative_weight=50.0, lr=1e-3, reg=0.0),
    "bpr": dict(loss="bpr", lr=1e-3, reg=1e-4),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--negatives", type=int, default=64, help="N per positive = pool size M")
    parser.add_argument("--losses", default="ssm")
    parser.add_argument("--max-epochs", type=int, default=200)
    args = parser.parse_args()
    if args.seeds < 1 or args.max_epochs < 1:
        parser.error(f"--seeds and --max-epochs must be >= 1; got {args.seeds}, {args.max_epochs}")
    losses = args.losses.split(",")
    if set(losses) - set(LOSSES):
        parser.error(f"--losses: choices {sorted(LOSSES)}, got {args.losses!r}")
    data = data_loaders.load("ml-100k").interactions
    split = random_split(data, test_ratio=0.2, seed=2020)
    inner = random_split(split.train, test_ratio=0.1, seed=2021)
    n = args.negatives
    variants = {"per-positive": dict(n_neg=n), "pool, masked": dict(neg_pool=n),
                "pool, unmasked": dict(neg_pool=n, mask_pool=False)}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__}; $ .venv/bin/python {' '.join(sys.argv)}")
    print(f"# ml-100k: {inner.train.nnz} fit / {inner.test.nnz} validation / {split.test.nnz} test; N = M = {n}; "
          f"{args.seeds} seeds", flush=True)
    print("| loss | negatives | test Recall@20 | test NDCG@20 | epochs (mean) | train s (mean) |")
    print("|---|---|---|---|---|---|", flush=True)
    for loss in losses:
        for name, extra in variants.items():
            rec_, ndcg, epochs, secs = [], [], [], []
            for seed in range(args.seeds):
                rec = Recommender(model="mf", dim=64, batch_size=2048, epochs=args.max_epochs, patience=5,
                                  monitor="ndcg", seed=seed, **LOSSES[loss], **extra)
                t0 = time.perf_counter()
                rec.fit(inner.train, valid=inner.test, progress=False)
                secs.append(time.perf_counter() - t0)
                res = evaluate(rec.score_all, split.train, split.test, k=(20,), metrics=("recall", "ndcg"))
                rec_.append(res["recall@20"])
                ndcg.append(res["ndcg@20"])
                epochs.append((rec.best_epoch or 0) + 1)

            def ms(xs: list[float]) -> str:
                return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.4f}"

            print(f"| {loss} | {name} | {ms(rec_)} | {ms(ndcg)} | {statistics.mean(epochs):.0f} | "
                  f"{statistics.mean(secs):.1f} |", flush=True)


if __name__ == "__main__":
    main()
