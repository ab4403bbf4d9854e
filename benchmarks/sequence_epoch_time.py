"""Seconds per training epoch of every sequence model, recpref's and the peers', at one batch size
on one split, in one run (issue 10's time target: recpref's per-epoch time below RecBole
SASRec's at the same batch size).

    .venv/bin/python benchmarks/sequence_epoch_time.py --dataset amazon-beauty --epochs 2

Split: leave-one-out (`recpref.data.leave_one_out`); every row trains on the same training
sequences through `recpref.benchmarking.run_sequence_benchmark`. One epoch = one pass over every
training target: recpref draws ceil(#(user, cut) pairs / batch) batches with ``min_history`` 1
(the same 131,413 samples on Amazon Beauty as RecBole's prefix augmentation and torch-rechub's
prefix examples). ``s / epoch`` = the median over the ``--epochs`` epochs of the training steps'
wall time as each tool's own loop measures it (recpref: `HistoryLogger`'s ``train_seconds``;
RecBole: its ``_train_epoch``; torch-rechub: its ``train_one_epoch``), validation excluded. Each
row keeps its own loss (see the ``loss`` column): recpref a shared pool of ``--n-neg`` uniform
negatives with log-Q; RecBole SASRec / GRU4Rec / SINE cross-entropy over the whole catalogue;
torch-rechub softmax over the positive and 3 sampled negatives. The test metrics after so few
epochs measure nothing and are not printed. ``recpref sasrec (no buckets)`` runs with
`SequenceEncoder.length_buckets` off: the cost of encoding every row over all ``--max-len``
columns; ``recpref sasrec (full softmax)`` trains with RecBole's loss (cross-entropy over the
whole catalogue) for a like-for-like step. ``--smoke``: ml-free tiny check (3 steps per recpref epoch, a 300-user subset).
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
from recpref.benchmarking.sequence_harness import RecprefSequenceRunner, SequenceRunner, run_sequence_benchmark
from recpref.data import Sequences, leave_one_out
from recpref.models import SequenceEncoder
from sequence_cli import check_at_least_one, known_names

RECPREF = ("sasrec", "sasrec-nobuckets", "sasrec-full", "comirec-sa", "comirec-dr", "mind", "mean", "hcn")
RECBOLE = ("SASRec", "GRU4Rec", "SINE")
RECHUB = ("mind", "comirec-sa", "comirec-dr")
ROWS = (*(f"recpref:{m}" for m in RECPREF), *(f"recbole:{m}" for m in RECBOLE), *(f"rechub:{m}" for m in RECHUB))


class NoBuckets:
    """A runner wrapper that turns length buckets off for its own fit and scoring only."""

    def __init__(self, inner: RecprefSequenceRunner) -> None:
        self.inner, self.name, self.tool = inner, inner.name + " (no buckets)", inner.tool

    @property
    def epoch_seconds(self) -> list[float]:
        return self.inner.epoch_seconds

    def params(self) -> dict[str, Any]:
        return {**self.inner.params(), "length_buckets": False}

    def _off(self) -> Any:
        class _Off:
            def __enter__(self) -> None:
                SequenceEncoder.length_buckets = False

            def __exit__(self, *exc: object) -> None:
                SequenceEncoder.length_buckets = True
        return _Off()

    def fit(self, train: Sequences, valid: Any, seed: int) -> None:
        with self._off():
            self.inner.fit(train, valid, seed)

    def score_histories(self, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with self._off():
            return self.inner.score_histories(items, mask)


def build(row: str, args: argparse.Namespace, epochs: int) -> SequenceRunner:
    tool, model = row.split(":")
    if tool == "recpref":
        base = model.replace("-nobuckets", "").replace("-full", "")
        extra: dict[str, Any] = {"steps_per_epoch": 3} if args.smoke else {}
        full = model.endswith("-full")  # RecBole's loss: softmax over the whole catalogue
        extra.update({"loss": "full"} if full else {"n_neg": args.n_neg})
        runner = RecprefSequenceRunner(
            name=f"recpref {base}" + (" (full softmax)" if full else ""), model=base, dim=args.dim,
            max_len=args.max_len, batch_size=args.batch_size, lr=1e-3, epochs=epochs, patience=None, min_history=1,
            seed=0, **extra)
        return NoBuckets(runner) if model.endswith("-nobuckets") else runner  # type: ignore[return-value]
    if tool == "recbole":
        from recpref.benchmarking.recbole_sequence_runner import RecBoleSequential

        return RecBoleSequential(model=cast(Any, model), dim=args.dim, max_len=args.max_len, batch_size=args.batch_size,
                                 epochs=epochs, lr=1e-3)
    from recpref.benchmarking.rechub_runner import RecHubMultiInterest

    return RecHubMultiInterest(cast(Any, model), "fair", dim=args.dim, max_len=args.max_len, batch_size=args.batch_size,
                               epochs=epochs)


LOSS = {"recpref": "pool of {n} (log-Q)", "recpref-full": "CE, full catalogue", "recbole": "CE, full catalogue",
        "torch-rechub": "softmax, 3 negatives"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["amazon-beauty", "amazon-toys"], default="amazon-beauty")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from {', '.join(ROWS)}")
    parser.add_argument("--reference", default="recbole:SASRec", help="the row the ratios divide by")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--row-epochs", action="append", default=[], metavar="ROW=N",
                        help="another epoch count for one row (e.g. a very slow one)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--n-neg", type=int, default=1000, help="recpref rows but *-full: shared pool size")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    rows = known_names(parser, "--rows", args.rows, ROWS)
    check_at_least_one(parser, args, ("epochs", "dim", "max_len", "batch_size", "n_neg"))
    per_row = {}
    for item in args.row_epochs:
        key, _, value = item.partition("=")
        if key not in rows or not value.isdigit() or int(value) < 1:
            parser.error(f"--row-epochs: expected ROW=N with ROW in --rows and N >= 1; got {item!r}")
        per_row[key] = int(value)
    ds = data_loaders.load(args.dataset)
    seqs = Sequences.from_interactions(ds.interactions)
    if args.smoke:
        seqs = seqs.select(np.isin(seqs.rows, np.arange(300)))
    split = leave_one_out(seqs)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {platform.machine()}, "
          f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n# $ .venv/bin/python {' '.join(sys.argv)}")
    n_samples = int(np.maximum(split.train.lengths - 1, 0).sum())
    print(f"# {args.dataset} leave-one-out: {split.train.nnz} training events, {n_samples} (history, next item) "
          f"samples per epoch; dim {args.dim}, history {args.max_len}, batch {args.batch_size}, {args.epochs} epochs "
          f"per row (except {', '.join(f'{k}: {v}' for k, v in per_row.items()) or 'none'}), no early stopping",
          flush=True)
    runners = [build(r, args, per_row.get(r, args.epochs)) for r in rows]
    results = run_sequence_benchmark(
        split, runners, max_len=args.max_len, k=(10,), seed=0,
        on_start=lambda name, i: print(f"  training {name} ...", flush=True),
        on_result=lambda r: print(f"  {r.name}: {r.params.get('epoch_seconds', float('nan')):.1f} s / epoch"
                                  + (f"  ERROR {r.error}" if r.error else ""), flush=True))
    ref = next((r for r, key in zip(results, rows) if key == args.reference and r.error is None), None)
    ref_s = ref.params.get("epoch_seconds") if ref is not None else None
    print(f"\n| row | tool | loss | s / epoch (median) | epochs | time / {args.reference} |")
    print("|---|---|---|---|---|---|")
    for r in results:
        if r.error is not None:
            print(f"| {r.name} | {r.tool} | - | error: {r.error} | - | - |")
            continue
        s = float(r.params["epoch_seconds"])
        ratio = f"{s / ref_s:.2f}x" if ref_s else "-"
        loss = LOSS["recpref-full" if r.params.get("loss") == "full" else r.tool].format(n=args.n_neg)
        print(f"| {r.name} | {r.tool} | {loss} | {s:.1f} | {r.params['epochs_run']} | {ratio} |")
    spread = [statistics.pstdev(getattr(run, "epoch_seconds", []) or [0.0]) for run in runners]
    print(f"# largest spread between one row's epochs (population std): {max(spread):.2f} s")
    print(f"# load at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
