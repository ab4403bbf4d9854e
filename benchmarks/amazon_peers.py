"""Issue 10's main table: recpref's sequence models and the peers (RecBole SASRec / GRU4Rec /
SINE, torch-rechub MIND / ComiRec-SA / ComiRec-DR) on the Amazon leave-one-out protocol, the
same split, inputs and evaluator for every row, mean +- std over seeds, in one run.

    .venv/bin/python benchmarks/amazon_peers.py --dataset amazon-beauty --seeds 0,1,2 --device cuda

Protocol (S3-Rec / TIGER, `recpref.data.leave_one_out`): each user's last item is the test
target, the second-to-last the validation target, the rest the training sequence (same-position
ties keep the input order: the files are in time order). Test: every item ranked for every user
from the user's last ``--max-len`` items (training sequence + validation item), history items
included as TIGER's numbers rank them, by recpref's `evaluate` through
`recpref.benchmarking.run_sequence_benchmark`: Recall@k = the one target in the top k,
NDCG@k = 1 / log2(rank + 1) when it is. Rows:

* ``recpref:<model>`` (mean, sasrec, mind, comirec-dr, comirec-sa, hcn): dim ``--dim``, history
  ``--max-len``, batch ``--batch-size``, a shared pool of ``--n-neg`` uniform negatives per step
  with log-Q, Adam ``--lr``, ``min_history`` 1 (every prefix a sample, as the peers), early
  stopping on validation NDCG@10 with patience ``--patience``, at most ``--epochs`` epochs.
* ``recbole:<Model>`` (SASRec, GRU4Rec, SINE): RecBole 1.2.1 at its own model defaults except
  dim / history / batch / lr / epochs, cross-entropy over the whole catalogue, early stopping on
  the same validation users (recpref's evaluate, NDCG@10, the same patience).
* ``rechub:<model>:<preset>`` (mind, comirec-sa, comirec-dr; defaults or fair): torch-rechub
  0.9.0's trainer, no early stopping (its examples train a fixed number of epochs: ``defaults``
  = its example's 10 epochs and settings; ``fair`` = our dim / history / batch and
  ``--rechub-epochs`` epochs).

No per-model tuning (one shared setting for every row of a tool): the rows compare tools at
equal budgets, not tuned optima; say so where the numbers are quoted. ``--smoke``: a 300-user
subset and one short epoch per row (the tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
from typing import Any, cast

import numpy as np
import torch

import data_loaders
from recpref.benchmarking.base import RunResult
from recpref.benchmarking.sequence_harness import RecprefSequenceRunner, SequenceRunner, run_sequence_benchmark
from recpref.data import Sequences, leave_one_out
from sequence_cli import check_at_least_one, known_names

PUBLISHED = {  # TIGER paper (Rajput et al., NeurIPS 2023) Table 1; R@5 / R@10 / N@5 / N@10 (methods.md 3.3b)
    "amazon-beauty": {"SASRec": (0.0387, 0.0605, 0.0249, 0.0318), "GRU4Rec": (0.0164, 0.0283, 0.0099, 0.0137),
                      "TIGER": (0.0454, 0.0648, 0.0321, 0.0384)},
    "amazon-toys": {"SASRec": (0.0463, 0.0675, 0.0306, 0.0374), "GRU4Rec": (0.0097, 0.0176, 0.0059, 0.0084),
                    "TIGER": (0.0521, 0.0712, 0.0371, 0.0432)},
}
RECPREF = ("mean", "sasrec", "mind", "comirec-dr", "comirec-sa", "hcn")
RECBOLE = ("SASRec", "GRU4Rec", "SINE")
RECHUB = ("mind", "comirec-sa", "comirec-dr")
ROWS = (*(f"recpref:{m}" for m in RECPREF), *(f"recbole:{m}" for m in RECBOLE),
        *(f"rechub:{m}:{p}" for m in RECHUB for p in ("defaults", "fair")))
METRICS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")


def build(row: str, args: argparse.Namespace) -> SequenceRunner:
    tool, model, *rest = row.split(":")
    accelerator = "gpu" if args.device.startswith("cuda") else "cpu"
    if tool == "recpref":
        extra: dict[str, Any] = {"steps_per_epoch": 3} if args.smoke else {}
        return RecprefSequenceRunner(
            name=f"recpref {model}", accelerator=accelerator, model=model, dim=args.dim, max_len=args.max_len,
            batch_size=args.batch_size, n_neg=args.n_neg, lr=args.lr, epochs=1 if args.smoke else args.epochs,
            patience=args.patience, monitor="ndcg", monitor_k=10, min_history=1, seed=0, **extra)
    if tool == "recbole":
        from recpref.benchmarking.recbole_sequence_runner import RecBoleSequential

        return RecBoleSequential(model=cast(Any, model), dim=args.dim, max_len=args.max_len,
                                 batch_size=args.batch_size, lr=args.lr, epochs=1 if args.smoke else args.epochs,
                                 patience=args.patience, device=args.device)
    from recpref.benchmarking.rechub_runner import RecHubMultiInterest

    preset = rest[0]
    sizes: dict[str, Any] = {}
    if preset == "fair":
        sizes = dict(dim=args.dim, max_len=args.max_len, batch_size=args.batch_size, epochs=args.rechub_epochs)
    if args.smoke:
        sizes["epochs"] = 1
    return RecHubMultiInterest(cast(Any, model), cast(Any, preset), device=args.device, **sizes)


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(PUBLISHED), default="amazon-beauty")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from {', '.join(ROWS)}")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (the split is fixed)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--epochs", type=int, default=100, help="at most this many epochs (early stopping)")
    parser.add_argument("--rechub-epochs", type=int, default=30, help="torch-rechub 'fair' rows: fixed epochs")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--n-neg", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    rows = known_names(parser, "--rows", args.rows, ROWS)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds: comma-separated integers; got {args.seeds!r}")
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        parser.error(f"--device must be cpu or cuda[:n]; got {args.device!r}")
    check_at_least_one(parser, args, ("epochs", "rechub_epochs", "patience", "dim", "max_len", "batch_size", "n_neg"))
    if not args.lr > 0:
        parser.error(f"--lr must be > 0; got {args.lr}")
    ds = data_loaders.load(args.dataset)
    seqs = Sequences.from_interactions(ds.interactions)
    if args.smoke:
        seqs = seqs.select(np.isin(seqs.rows, np.arange(300)))
    split = leave_one_out(seqs)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"{os.cpu_count()} CPU cores"
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {platform.machine()}, {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n# $ .venv/bin/python {' '.join(sys.argv)}")
    print(f"# {args.dataset} leave-one-out: {split.test.users.size} users, {split.train.nnz} training events; dim "
          f"{args.dim}, history {args.max_len}, batch {args.batch_size}, lr {args.lr:g}, early stopping on validation "
          f"NDCG@10 (patience {args.patience}, at most {args.epochs} epochs; torch-rechub fair: {args.rechub_epochs} "
          f"fixed epochs); seeds {seeds}", flush=True)
    by_row: dict[str, list[RunResult]] = {}
    for seed in seeds:
        runners = [build(r, args) for r in rows]
        results = run_sequence_benchmark(
            split, runners, max_len=args.max_len, k=(5, 10), seed=seed,
            on_start=lambda name, i, seed=seed: print(f"  seed {seed}: training {name} ...", flush=True),
            on_result=lambda r: print(
                f"    {r.name}: " + (f"ERROR {r.error}" if r.error else " ".join(
                    f"{m} {r.metrics[m]:.4f}" for m in METRICS) + f"; {r.params.get('epochs_run', '-')} epochs, "
                    f"{r.params.get('epoch_seconds', float('nan')):.1f} s / epoch, {r.train_seconds:.0f} s"),
                flush=True))
        for key, r in zip(rows, results):
            by_row.setdefault(key, []).append(r)
    print(f"\n| row | tool | test R@5 | R@10 | N@5 | N@10 | epochs | s / epoch | train s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in rows:
        runs = by_row[key]
        errors = [r.error for r in runs if r.error is not None]
        if errors:
            print(f"| {runs[0].name} | {runs[0].tool} | error: {errors[0]} | | | | | | |")
            continue
        cells = [_cell([r.metrics[m] for r in runs]) for m in METRICS]
        epochs = "/".join(str(r.params.get("epochs_run", "-")) for r in runs)
        per_epoch = statistics.mean(float(r.params.get("epoch_seconds", float("nan"))) for r in runs)
        train_s = statistics.mean(r.train_seconds for r in runs)
        print(f"| {runs[0].name} | {runs[0].tool} | {' | '.join(cells)} | {epochs} | {per_epoch:.1f} | {train_s:.0f} |")
    for name, (r5, r10, n5, n10) in PUBLISHED[args.dataset].items():
        print(f"| {name} (published, TIGER paper) | - | {r5:.4f} | {r10:.4f} | {n5:.4f} | {n10:.4f} | - | - | - |")
    print("# cells: mean ± sample std over the seeds; epochs: run per seed (early stopping keeps the best one's "
          "weights); s / epoch: median training-step seconds of an epoch, mean over seeds")
    print(f"# load at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
