"""HCN as a retriever and as the coarse ranker it was made for (issue 10; methods.md 3.4): a
retriever's top-C candidates per user re-scored by HCN, against the retriever alone and HCN's
own full ranking, on the Amazon leave-one-out protocol.

    .venv/bin/python benchmarks/hcn_coarse_rank.py --dataset amazon-beauty --retriever comirec-sa --candidates 200

Both models train once (`recpref.benchmarking.RecprefSequenceRunner`, the settings of
benchmarks/amazon_peers.py: dim 64, history 50, batch 512, a pool of 1000 uniform negatives with
log-Q, Adam 1e-3, min_history 1, early stopping on validation NDCG@10). Every row is scored by
recpref's `evaluate` over all items for every test user (history items ranked too): a re-ranked
row's scorer gives the retriever's top-C items their re-ranking scores and every other item
-inf, so its Recall/NDCG@k are those of the re-ranked list. ``recall@C of the retriever`` is the
ceiling of any re-ranker. HCN re-scores with `recpref.models.rerank`: ``attention`` = its
target-aware attention pooling over interests (our coarse-ranker score), ``max`` = the max over
interests (its training readout). ``--smoke``: a 300-user subset and 3 steps per epoch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch

import data_loaders
from recpref.benchmarking.sequence_harness import RecprefSequenceRunner
from recpref.data import Sequences, leave_one_out
from recpref.evaluation import evaluate
from recpref.models import rerank
from recpref.modules.sequence import evaluation_mask
from sequence_cli import check_at_least_one

RETRIEVERS = ("comirec-sa", "comirec-dr", "mind", "mean", "sasrec")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["amazon-beauty", "amazon-toys"], default="amazon-beauty")
    parser.add_argument("--retriever", choices=RETRIEVERS, default="comirec-sa")
    parser.add_argument("--candidates", type=int, default=200, help="C: the retriever's top-C per user")
    parser.add_argument("--epochs", type=int, default=100, help="at most (early stopping, patience 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    check_at_least_one(parser, args, ("candidates", "epochs"))
    ds = data_loaders.load(args.dataset)
    seqs = Sequences.from_interactions(ds.interactions)
    if args.smoke:
        seqs = seqs.select(np.isin(seqs.rows, np.arange(300)))
    if args.candidates > seqs.n_items:
        parser.error(f"--candidates must be <= the {seqs.n_items} items; got {args.candidates}")
    split = leave_one_out(seqs)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {platform.machine()}, "
          f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads\n"
          f"# $ .venv/bin/python {' '.join(sys.argv)}")
    settings: dict[str, Any] = dict(dim=64, max_len=50, batch_size=512, n_neg=1000, lr=1e-3, min_history=1,
                                    epochs=1 if args.smoke else args.epochs, patience=5, monitor="ndcg",
                                    monitor_k=10, **({"steps_per_epoch": 3} if args.smoke else {}))
    runners = {}
    for model in (args.retriever, "hcn"):
        t0 = time.perf_counter()
        runner = RecprefSequenceRunner(model=model, **settings)
        runner.fit(split.train, split.valid, args.seed)
        runners[model] = runner
        print(f"  trained {model}: {len(runner.epoch_seconds)} epochs (best {(runner.best_epoch or 0) + 1}), "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    inputs = split.test.inputs.padded(None, 50)
    seen = evaluation_mask(split.test.inputs.to_interactions(), False)
    truth = split.test.targets.to_interactions()
    retriever, hcn = runners[args.retriever], runners["hcn"]
    c = args.candidates

    def full(runner: RecprefSequenceRunner) -> Any:
        return lambda users: runner.score_histories(inputs.items[users.cpu()], inputs.mask[users.cpu()])

    def reranked(pooling: str) -> Any:
        def scorer(users: torch.Tensor) -> torch.Tensor:
            u = users.cpu()
            items, mask = inputs.items[u], inputs.mask[u]
            top = torch.topk(retriever.score_histories(items, mask), c, dim=1).indices
            with torch.no_grad():
                s = rerank(hcn.history_model.sequence, items, mask, top, pooling=pooling)  # type: ignore[arg-type]
            return torch.full((u.numel(), seqs.n_items), float("-inf")).scatter_(1, top, s)
        return scorer

    rows = [(f"{args.retriever} (retriever, full ranking)", full(retriever)),
            ("hcn (retriever, full ranking)", full(hcn)),
            (f"{args.retriever} top-{c} re-ranked by hcn, attention pooling", reranked("attention")),
            (f"{args.retriever} top-{c} re-ranked by hcn, max pooling", reranked("max"))]
    ceiling = evaluate(full(retriever), seen, truth, k=(c,), metrics=("recall",))[f"recall@{c}"]
    print(f"\n| row | test R@5 | R@10 | N@5 | N@10 |\n|---|---|---|---|---|")
    for name, scorer in rows:
        m = evaluate(scorer, seen, truth, k=(5, 10), metrics=("recall", "ndcg"))
        print(f"| {name} | {m['recall@5']:.4f} | {m['recall@10']:.4f} | {m['ndcg@5']:.4f} | {m['ndcg@10']:.4f} |")
    print(f"# recall@{c} of the {args.retriever} retriever (the re-rankers' ceiling): {ceiling:.4f}; "
          f"{split.test.users.size} test users; one seed ({args.seed})")


if __name__ == "__main__":
    main()
