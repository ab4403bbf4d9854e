"""MF or LightGCN with BPR, SSM or CCL (optionally against one shared negative pool per step)
on Gowalla's given split: test Recall@20 / NDCG@20 against epochs and wall time, for as long as
the time budget allows.

    .venv/bin/python benchmarks/gowalla_curve.py [--model mf] [--loss bpr] [--neg-pool M] [--minutes 8]
        [--eval-every 5] [--max-epochs N]

Training goes through the library's own path (PreferenceModule + the core's Trainer), so on a
GPU each step is captured once as a CUDA graph and replayed (``--step-mode auto``).

Published (full ranking, given split): MF-BPR 0.1291 / 0.1109 (NGCF paper), LightGCN
0.1830 / 0.1554 (LightGCN paper), MF + CCL with 1000 negatives 0.1872 / 0.1557 (SimpleX). Like those papers' code there is no validation split: this
prints the *test* curve to show convergence; it is not a model-selection result.
"""

from __future__ import annotations

import argparse
import time

import torch

import data_loaders
from recpref.evaluation import evaluate
from recpref.models import MF, LightGCN
from recpref.modules import PreferenceDataModule, PreferenceModule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["mf", "lightgcn"], default="mf")
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--reg", type=float, default=1e-4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (samples, trains and ranks there)")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--max-epochs", type=int, default=100_000)
    parser.add_argument("--step-mode", choices=["auto", "eager"], default="auto")
    parser.add_argument("--loss", choices=["bpr", "ssm", "ccl"], default="bpr")
    parser.add_argument("--neg-pool", type=int, default=None, help="one shared pool of M negatives per step")
    parser.add_argument("--temperature", type=float, default=1.0, help="ssm")
    parser.add_argument("--margin", type=float, default=0.5, help="ccl")
    parser.add_argument("--negative-weight", type=float, default=10.0, help="ccl")
    args = parser.parse_args()
    from recpref.training.config import PairwiseConfig

    try:  # the library's own checks, naming the setting, before any data work
        PairwiseConfig(loss=args.loss, neg_pool=args.neg_pool, lr=args.lr, reg=args.reg, batch_size=args.batch_size,
                       **{k: v for k, v in (("temperature", args.temperature), ("margin", args.margin),
                                            ("negative_weight", args.negative_weight))
                          if v != getattr(PairwiseConfig, k)})
    except ValueError as exc:
        parser.error(str(exc))
    import lightning.pytorch as pl

    from recpref.training.lightning_engine import make_trainer, run_fit

    torch.manual_seed(args.seed)  # a script: seeding the process is its call
    split = data_loaders.load("gowalla").split()
    train, test = split.train, split.test
    enc = (MF(train.n_users, train.n_items, args.dim, init="xavier") if args.model == "mf"
           else LightGCN(train, dim=args.dim, n_layers=args.layers))
    from recpref.modules.objectives import LossSettings

    settings = LossSettings(temperature=args.temperature, margin=args.margin, negative_weight=args.negative_weight)
    module = PreferenceModule(enc, loss=args.loss, lr=args.lr, reg=args.reg, step_mode=args.step_mode,
                              loss_settings=settings, neg_pool=args.neg_pool)
    dm = PreferenceDataModule(split, batch_size=args.batch_size, stream="shuffle", seed=args.seed,
                              neg_pool=args.neg_pool)
    shown = {"ssm": f" temperature {args.temperature}", "ccl": f" margin {args.margin}, negative weight "
             f"{args.negative_weight}", "bpr": ""}[args.loss]
    print(f"# gowalla {args.model} + {args.loss}{shown}"
          f"{'' if args.neg_pool is None else f', shared pool of {args.neg_pool}'}: {train.n_users} users, {train.n_items} items, {train.nnz} train / "
          f"{test.nnz} test; batch {args.batch_size}, Adam {args.lr}, L2 {args.reg}, dim {args.dim}; "
          f"{torch.get_num_threads()} threads, device {args.device}, step {args.step_mode}"
          f"{' (' + torch.cuda.get_device_name() + ')' if args.device.startswith('cuda') else ''}")
    print("| epoch | train s (cumulative) | recall@20 | ndcg@20 |")
    print("|---|---|---|---|", flush=True)
    start = time.perf_counter()

    class Curve(pl.Callback):
        def __init__(self) -> None:
            self.eval_seconds = 0.0

        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            epoch = trainer.current_epoch + 1
            if epoch % args.eval_every:
                return
            t0 = time.perf_counter()
            res = evaluate(module.score_all, train, test, k=(20,), metrics=("recall", "ndcg"), batch_size=2048,
                           device=args.device)
            self.eval_seconds += time.perf_counter() - t0
            trained = time.perf_counter() - start - self.eval_seconds
            print(f"| {epoch} | {trained:.0f} | {res['recall@20']:.4f} | {res['ndcg@20']:.4f} |", flush=True)
            if trained > args.minutes * 60:
                trainer.should_stop = True

    trainer = make_trainer(max_epochs=args.max_epochs, accelerator="cpu" if args.device == "cpu" else "gpu",
                           devices=1, callbacks=[Curve()])
    run_fit(trainer, module, dm)
    print(f"# total wall {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
