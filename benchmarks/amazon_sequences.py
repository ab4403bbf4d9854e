"""Sequence models on the Amazon leave-one-out protocol (S3-Rec / TIGER): a first look at each
recpref model's test Recall/NDCG@5/10, epochs and wall time at one shared setting.

    .venv/bin/python benchmarks/amazon_sequences.py --dataset amazon-beauty --models sasrec,comirec-sa,mean

Protocol: `recpref.protocols.train_sequence` (what `recpref train --model ...` runs): each user's
events in time order, the last one the test target, the second-to-last the validation target
(early stopping on validation NDCG@10, patience ``--patience``, at most ``--epochs``), the rest
the training sequence; test = full ranking over every item for every user from the training
sequence + validation item (history items ranked too, as TIGER's numbers rank them), scored by
recpref's `evaluate`: Recall@k = hit of the one target in the top k, NDCG@k = 1 / log2(rank + 1).
Every model gets the same settings (dim, history length, batch, pool of uniform negatives with
log-Q, lr): no per-model tuning, so this is not the issue's tuned comparison, and no peer runs in
it. ``wall s`` is the whole fit (training plus one validation ranking per epoch).
``--smoke`` runs one short epoch per model (for the tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time

import torch

import data_loaders
from recpref import catalog as cat
from recpref.protocols import train_sequence

PUBLISHED = {  # TIGER paper (Rajput et al., NeurIPS 2023), Table; R@5 / R@10 / N@5 / N@10 (methods.md 3.3b)
    "amazon-beauty": {"SASRec": (0.0387, 0.0605, 0.0249, 0.0318), "TIGER": (0.0454, 0.0648, 0.0321, 0.0384)},
    "amazon-toys": {"SASRec": (0.0463, 0.0675, 0.0306, 0.0374), "TIGER": (0.0521, 0.0712, 0.0371, 0.0432)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(PUBLISHED), default="amazon-beauty")
    parser.add_argument("--models", default="sasrec,comirec-sa,mean")
    parser.add_argument("--epochs", type=int, default=30, help="at most this many epochs (early stopping)")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--n-neg", type=int, default=1000, help="shared pool of uniform negatives per step (log-Q)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="one 3-step epoch per model")
    args = parser.parse_args()
    models = args.models.split(",")
    unknown = sorted(set(models) - set(cat.SEQUENCE_MODELS))
    if unknown:
        parser.error(f"--models: unknown {unknown}; choices {', '.join(cat.SEQUENCE_MODELS)}")
    for name in ("epochs", "patience", "dim", "max_len", "batch_size", "n_neg"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    ds = data_loaders.load(args.dataset)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {platform.machine()}, "
          f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n# $ .venv/bin/python {' '.join(sys.argv)}")
    print(f"# {args.dataset}: dim {args.dim}, history {args.max_len}, batch {args.batch_size}, {args.n_neg} uniform "
          f"negatives per step (log-Q), Adam {args.lr:g}, at most {args.epochs} epochs, patience {args.patience} on "
          f"validation NDCG@10, seed {args.seed}", flush=True)
    rows = []
    for model in models:
        settings = dict(model=model, dim=args.dim, max_len=args.max_len, batch_size=args.batch_size,
                        n_neg=args.n_neg, lr=args.lr, epochs=1 if args.smoke else args.epochs,
                        patience=args.patience, monitor="ndcg", monitor_k=10, seed=args.seed,
                        **({"steps_per_epoch": 3} if args.smoke else {}))
        t0 = time.perf_counter()
        out = train_sequence(ds, settings, k=(5, 10))
        seconds = time.perf_counter() - t0
        m = out.result.metrics
        rec = out.recommender
        epochs = len(rec.history)
        best = (rec.best_epoch or 0) + 1
        rows.append((model, m["recall@5"], m["recall@10"], m["ndcg@5"], m["ndcg@10"], best, epochs, seconds))
        print(f"  {model}: R@5 {m['recall@5']:.4f} R@10 {m['recall@10']:.4f} N@5 {m['ndcg@5']:.4f} "
              f"N@10 {m['ndcg@10']:.4f}; best epoch {best} of {epochs}; {seconds:.0f} s", flush=True)
    print(f"\n| model | test R@5 | R@10 | N@5 | N@10 | best epoch / run | wall s |\n|---|---|---|---|---|---|---|")
    for model, r5, r10, n5, n10, best, epochs, seconds in rows:
        flag = " (cap)" if best >= args.epochs and not args.smoke else ""
        print(f"| recpref {model} | {r5:.4f} | {r10:.4f} | {n5:.4f} | {n10:.4f} | {best} / {epochs}{flag} | {seconds:.0f} |")
    for name, (r5, r10, n5, n10) in PUBLISHED[args.dataset].items():
        print(f"| {name} (published, TIGER paper) | {r5:.4f} | {r10:.4f} | {n5:.4f} | {n10:.4f} | - | - |")
    print(f"# load at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
