"""Cost of one training step with many negatives, against a plain torch matmul of the same shapes
(issue 9: a step with N = 1000 on Gowalla must stay matmul-bound).

    .venv/bin/python benchmarks/many_negatives_step.py --dataset gowalla --n-neg 1000 --repeats 5

For each loss, one optimiser step of recpref's own path (the batch stream's negatives,
PreferenceModule's objective, backward, Adam) is timed, median of ``--repeats`` after a warm-up,
with N exact negatives per positive ("per-positive") and with one shared pool of N uniform items
per step, the user's own items masked ("shared pool", losses bpr/ssm/ccl; the module's own
pooled objective and optimiser: row-sparse gathers into `RowSparseAdam`), next to the sampling
of that batch alone and the plain matmul the pool needs, scores (B, d) @ (d, N) forward and
backward. The ratio step / matmul says how far the step is from matmul-bound. Batch 2048, MF dim
64 unless given. It keeps freed memory for reuse (`recpref.training.allocator`, which `fit`
applies only with ``RECPREF_KEEP_FREED_MEMORY=1``); ``--system-allocator`` leaves glibc's
thresholds alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

import data_loaders
from recpref.models import MF
from recpref.modules import PreferenceModule
from recpref.modules.objectives import POOL_OBJECTIVES, LossSettings
from recpref.training.allocator import ENV_VAR, keep_freed_memory
from recpref.sampling.batches import build_batches


MODE_NAMES = {"per-positive": "per-positive", "pool": "shared pool", "pool-lazy": "shared pool, lazy Adam"}


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
    parser.add_argument("--modes", default="per-positive,pool",
                        help=f"comma-separated, from {', '.join(MODE_NAMES)} (pool-lazy: the pool with optimizer lazy_adam)")
    parser.add_argument("--system-allocator", action="store_true",
                        help="leave glibc's allocator thresholds alone (fit raises them on the CPU)")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if not modes or set(modes) - set(MODE_NAMES):
        parser.error(f"--modes: unknown {sorted(set(modes) - set(MODE_NAMES))}; choices {list(MODE_NAMES)}")
    if not args.system_allocator:
        os.environ.setdefault(ENV_VAR, "1")
    kept = False if args.system_allocator else keep_freed_memory()
    ds = data_loaders.load(args.dataset)
    train = ds.split().train if {"train", "test"} <= set(ds.splits) else ds.interactions
    b, n, d = args.batch_size, args.n_neg, args.dim
    print(f"# {args.dataset}: {train.n_users} users x {train.n_items} items; batch {b}, {n} negatives per positive, "
          f"MF dim {d}; {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median of {args.repeats} after a warm-up; freed memory kept for reuse (recpref.training.allocator): {kept}")
    per_pos = build_batches(train, batch_size=b, n_neg=n, negatives="uniform", stream="shuffle", steps=1, seed=0,
                            steps_per_call=1)
    pooled = build_batches(train, batch_size=b, n_neg=1, negatives="uniform", stream="shuffle", steps=1, seed=0,
                           steps_per_call=1, pool=n)
    batch, pbatch = next(iter(per_pos)), next(iter(pooled))
    users, pos, neg = batch["users"][0], batch["pos"][0], batch["neg"][0]
    pool, mask = pbatch["neg"][0], pbatch["neg_mask"][0]
    sample_s = _median_seconds(lambda: next(iter(per_pos)), args.repeats)
    pool_sample_s = _median_seconds(lambda: next(iter(pooled)), args.repeats)
    u = torch.randn(b, d, requires_grad=True)
    pool_emb = torch.randn(n, d, requires_grad=True)

    def matmul() -> None:
        (u @ pool_emb.T).sum().backward()

    matmul_s = _median_seconds(matmul, args.repeats)
    print("| loss | negatives | step s | sampling s | matmul (B,d)@(d,N) fwd+bwd s | step / matmul |")
    print("|---|---|---|---|---|---|")
    for loss in args.losses.split(","):
        for mode in modes:
            if mode != "per-positive" and loss not in POOL_OBJECTIVES:
                continue
            torch.manual_seed(0)
            model = MF(train.n_users, train.n_items, d)
            pooled_mode = mode != "per-positive"
            module = PreferenceModule(model, loss=loss, lr=1e-3, reg=0.0, loss_settings=LossSettings(),  # type: ignore[arg-type]
                                      neg_pool=n if pooled_mode else None,
                                      optimizer="lazy_adam" if mode == "pool-lazy" else "adam")
            opt = module.configure_optimizers()  # the module's own optimiser (RowSparseAdam, fused unless lazy)

            def step() -> None:
                opt.zero_grad(set_to_none=True)
                if pooled_mode:  # the module's pooled objective (row-sparse gathers on the CPU)
                    module._pool_step_loss(users, pos, pool, mask).backward()
                else:
                    module._step_loss(users, pos, neg).backward()
                opt.step()

            step_s = _median_seconds(step, args.repeats)
            sampled = pool_sample_s if pooled_mode else sample_s
            print(f"| {loss} | {MODE_NAMES[mode]} | {step_s:.4f} | {sampled:.4f} | {matmul_s:.4f} | {step_s / matmul_s:.1f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
