"""Seed spread of chosen Gowalla recipes: the table's settings (from `gowalla_losses.py`'s tuning
logs) refit on all of train with several training seeds and scored on test, so a gap in the table
can be read against run-to-run noise.

    .venv/bin/python benchmarks/gowalla_seeds.py --methods als,mf-ssm-wide-decay --seeds 0,1,2 \\
        --tuning-log docs/results/gowalla_losses_tuning_11.log --tuning-log docs/results/gowalla_losses_tuning_1.log \\
        --tuning-log docs/results/gowalla_losses_tuning_2.log

Same protocol and code as the table (`gowalla_losses.fit_and_score`: `Recommender.fit` timed,
test Recall@20 / NDCG@20 by recpref's `evaluate` with every train item masked); only ``seed``
(model init, sampling streams; ALS: implicit's ``random_state``) changes. Prints each seed's
numbers and mean +- sample std per method. ``--smoke`` runs on ml-100k (for the tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import torch

import data_loaders
import gowalla_losses as gl
from recpref.data import random_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="als,mf-ssm-wide-decay")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (integers >= 0)")
    parser.add_argument("--tuning-log", type=Path, action="append", required=True,
                        help="gowalla_losses.py tuning logs holding the choices (the latest given decides)")
    parser.add_argument("--max-epochs", type=int, default=30, help="as the tuning run's (flags an epoch-cap choice)")
    parser.add_argument("--smoke", action="store_true", help="ml-100k instead of Gowalla")
    args = parser.parse_args()
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers; got {args.seeds!r}")
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        parser.error(f"--seeds must be distinct integers >= 0; got {args.seeds!r}")
    wanted = args.methods.split(",")
    unknown = set(wanted) - {m.name for m in gl.METHODS}
    if unknown:
        parser.error(f"--methods: unknown {sorted(unknown)}; choices {[m.name for m in gl.METHODS]}")
    methods = [m for m in gl.METHODS if m.name in wanted]
    lines = [line for log in args.tuning_log for line in log.read_text().splitlines()]
    logged = gl.runs_from_logs(lines, methods)
    for m in methods:
        gl.choice_from_log(m, lines, args.max_epochs, logged)
    if args.smoke:
        given = random_split(data_loaders.load("ml-100k").interactions, test_ratio=0.2, seed=2020)
        train, test = given.train, given.test
        for m in methods:
            m.chosen = {**m.chosen, "epochs": 1, **({"dim": 8} if "dim" in m.chosen else {})}
    else:
        split = data_loaders.load("gowalla").split()
        train, test = split.train, split.test
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {platform.machine()}, "
          f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n# $ .venv/bin/python {' '.join(sys.argv)}")
    print(f"# {'ml-100k (smoke)' if args.smoke else 'gowalla given split'}: {train.nnz} train / {test.nnz} test; "
          f"settings: { {m.name: m.chosen for m in methods} }", flush=True)
    print("| method | seed | test Recall@20 | test NDCG@20 | train s |\n|---|---|---|---|---|", flush=True)
    results: dict[str, list[dict[str, float]]] = {}
    for m in methods:
        for seed in seeds:
            r = gl.fit_and_score({**m.chosen, "seed": seed}, train, test, None, args.max_epochs)
            results.setdefault(m.name, []).append(r)
            print(f"| {m.name} | {seed} | {r['recall']:.4f} | {r['ndcg']:.4f} | {r['seconds']:.1f} |", flush=True)
    print("\n| method | seeds | test Recall@20 mean +- std | test NDCG@20 mean +- std | train s mean |")
    print("|---|---|---|---|---|")
    for name, rs in results.items():
        def spread(key: str) -> str:
            values = [r[key] for r in rs]
            std = statistics.stdev(values) if len(values) > 1 else float("nan")
            return f"{statistics.fmean(values):.4f} +- {std:.4f}"
        print(f"| {name} | {len(rs)} | {spread('recall')} | {spread('ndcg')} | "
              f"{statistics.fmean(r['seconds'] for r in rs):.1f} |")
    print(f"# load at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
