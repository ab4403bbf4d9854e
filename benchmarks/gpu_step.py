"""Seconds per epoch of recpref's own training path (PreferenceModule + PreferenceDataModule +
the core's Trainer), with each optimiser step run eagerly or captured once as a CUDA graph and
replayed (``step_mode``), for LightGCN and MF; plus the final train loss of each so that the
two paths can be seen to train alike. With ``--loss ssm --neg-pool 1000`` (issue 9) the step is
the shared-pool sampled softmax, and a plain torch reference is timed beside it: as many
(B, d) @ (d, M) matmuls, forward and backward, as an epoch has steps (step / matmul says how far
the step is from matmul-bound).

    python benchmarks/gpu_step.py --dataset gowalla --device cuda --epochs 6
    python benchmarks/gpu_step.py --dataset ml-100k --device cpu --epochs 2 --models mf   # CPU smoke

Settings (issue 8): Gowalla's given train split, 3 layers, dim 64, batch 2048, 1 uniform negative,
Adam 1e-3, L2 1e-4. s/epoch is the median over epochs after the first (which holds the capture).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import data_loaders
from recpref.data import Interactions, Split
from recpref.models import MF, LightGCN
from recpref.modules import PreferenceDataModule, PreferenceModule
from recpref.modules.objectives import LossSettings
from recpref.training.lightning_engine import make_trainer, run_fit


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(data: Interactions, model_name: str, mode: str, args: argparse.Namespace) -> tuple[float, float]:
    import lightning.pytorch as pl

    torch.manual_seed(args.seed)
    enc = (MF(data.n_users, data.n_items, args.dim, init="xavier") if model_name == "mf"
           else LightGCN(data, dim=args.dim, n_layers=args.layers))
    settings = LossSettings(temperature=args.temperature)
    module = PreferenceModule(enc, loss=args.loss, lr=args.lr, reg=args.reg, step_mode=mode,  # type: ignore[arg-type]
                              loss_settings=settings, neg_pool=args.neg_pool)
    dm = PreferenceDataModule(Split(train=data, test=data, allow_overlap=True), batch_size=args.batch_size,
                              stream="shuffle", seed=args.seed, neg_pool=args.neg_pool)
    times: list[float] = []

    class Clock(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            _sync(args.device)
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            _sync(args.device)
            times.append(time.perf_counter() - self.t0)

    trainer = make_trainer(max_epochs=args.epochs, accelerator="cpu" if args.device == "cpu" else "gpu", devices=1,
                           callbacks=[Clock()])
    run_fit(trainer, module, dm)
    loss = float(trainer.callback_metrics["train/loss"])
    steady = times[1:] or times
    return statistics.median(steady), loss


def matmul_epoch(steps: int, args: argparse.Namespace) -> float:
    """Seconds for ``steps`` plain (B, d) @ (d, M) products, forward and backward, on the device
    (median of 3 after a warm-up)."""
    u = torch.randn(args.batch_size, args.dim, device=args.device, requires_grad=True)
    pool = torch.randn(args.neg_pool, args.dim, device=args.device, requires_grad=True)

    def epoch() -> float:
        _sync(args.device)
        t0 = time.perf_counter()
        for _ in range(steps):
            (u @ pool.T).sum().backward()
        _sync(args.device)
        return time.perf_counter() - t0

    epoch()
    return statistics.median(epoch() for _ in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="gowalla")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--models", default="lightgcn,mf")
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--reg", type=float, default=1e-4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--loss", choices=["bpr", "ssm", "ccl"], default="bpr")
    parser.add_argument("--neg-pool", type=int, default=None, help="one shared pool of M negatives per step")
    parser.add_argument("--temperature", type=float, default=1.0, help="ssm")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error(f"--epochs must be >= 2 (the first holds the capture); got {args.epochs}")
    from recpref.training.config import PairwiseConfig

    try:  # the library's own checks (as gowalla_curve.py), naming the setting, before any data work
        PairwiseConfig(loss=args.loss, neg_pool=args.neg_pool, lr=args.lr, reg=args.reg, batch_size=args.batch_size,
                       **({} if args.temperature == PairwiseConfig.temperature else {"temperature": args.temperature}))
    except ValueError as exc:
        parser.error(str(exc))
    ds = data_loaders.load(args.dataset)
    train = ds.split().train if {"train", "test"} <= set(ds.splits) else ds.interactions
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    steps = -(-train.nnz // args.batch_size)
    pool = "" if args.neg_pool is None else f", one shared pool of {args.neg_pool} per step"
    print(f"# {args.dataset}: {train.n_users} users, {train.n_items} items, {train.nnz} train pairs, "
          f"{steps} steps/epoch; loss {args.loss}{pool}; dim {args.dim}; {name}; torch {torch.__version__}; "
          f"{args.epochs} epochs")
    if args.neg_pool is not None:
        print(f"# plain torch reference: {steps} x (B,d)@(d,M) fwd+bwd = {matmul_epoch(steps, args):.3f} s / epoch")
    print("| model | step | s / epoch (median after the first) | final train loss |")
    print("|---|---|---|---|", flush=True)
    for model_name in args.models.split(","):
        modes = ("eager", "auto") if args.device.startswith("cuda") else ("eager", "graph")
        for mode in modes:
            sec, loss = measure(train, model_name, mode, args)
            label = {"eager": "eager", "auto": "CUDA graph (auto)", "graph": "static buffers, no capture (CPU)"}[mode]
            print(f"| {model_name} | {label} | {sec:.3f} | {loss:.6f} |", flush=True)


if __name__ == "__main__":
    main()
