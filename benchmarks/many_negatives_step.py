"""Cost of one training step with many negatives, against a plain torch matmul of the same shapes
(issue 9: a step with N = 1000 on Gowalla must stay matmul-bound).

    .venv/bin/python benchmarks/many_negatives_step.py --dataset gowalla --n-neg 1000 --repeats 5

For each loss, one optimiser step of recpref's own path (the batch stream's per-positive exact
negatives, PreferenceModule's objective, backward, Adam) is timed, median of ``--repeats`` after a
warm-up, next to: the sampling of that batch alone, and the plain matmul a shared negative pool
would need, scores (B, d) @ (d, N) forward and backward. The ratio step / matmul says how far the
step is from matmul-bound. Batch 2048, MF dim 64 unless given.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import data_loaders
from recpref.models import MF
from recpref.modules import PreferenceModule
from recpref.modules.objectives import LossSettings
from recpref.sampling.batches import build_batches


def _median_seconds(fn: object, repeats: int) -> float:
    assert callable(fn)
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="gowalla")
    parser.add_argument("--n-neg", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--losses", default="bpr,ssm,ccl")
    args = parser.parse_args()
    ds = data_loaders.load(args.dataset)
    train = ds.split().train if {"train", "test"} <= set(ds.splits) else ds.interactions
    b, n, d = args.batch_size, args.n_neg, args.dim
    print(f"# {args.dataset}: {train.n_users} users x {train.n_items} items; batch {b}, {n} negatives per positive, "
          f"MF dim {d}; {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median of {args.repeats} after a warm-up")
    batches = build_batches(train, batch_size=b, n_neg=n, negatives="uniform", stream="shuffle", steps=1, seed=0,
                            steps_per_call=1)
    batch = next(iter(batches))
    users, pos, neg = batch["users"][0], batch["pos"][0], batch["neg"][0]
    sample_s = _median_seconds(lambda: next(iter(batches)), args.repeats)
    u = torch.randn(b, d, requires_grad=True)
    pool = torch.randn(n, d, requires_grad=True)

    def matmul() -> None:
        (u @ pool.T).sum().backward()

    matmul_s = _median_seconds(matmul, args.repeats)
    print("| loss | step s | sampling s | matmul (B,d)@(d,N) fwd+bwd s | step / matmul |")
    print("|---|---|---|---|---|")
    for loss in args.losses.split(","):
        torch.manual_seed(0)
        model = MF(train.n_users, train.n_items, d)
        module = PreferenceModule(model, loss=loss, lr=1e-3, reg=0.0, loss_settings=LossSettings())  # type: ignore[arg-type]
        opt = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            module._step_loss(users, pos, neg).backward()
            opt.step()

        step_s = _median_seconds(step, args.repeats)
        print(f"| {loss} | {step_s:.4f} | {sample_s:.4f} | {matmul_s:.4f} | {step_s / matmul_s:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
