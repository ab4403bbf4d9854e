"""Full-ranking evaluation speed: `recpref.evaluation.evaluate` against a plain torch loop.

    .venv/bin/python benchmarks/evaluate_speed.py [--dataset gowalla] [--device cpu|cuda] [--k 20]
        [--repeats 5] [--breakdown]

Scores every test user against every item with a random-init MF (dim 64; the scorer is the
plain matmul of its embedding tables, so all rows share it) and times, in one run and
interleaved, each repeat after one untimed warm-up:

- ``matmul alone``: the scores of every batch of users, nothing else;
- ``plain torch loop``: matmul, mask each user's train items (-inf, advanced indexing; the pairs
  uploaded once), ``torch.topk``, hits by a sorted-key lookup, Recall@k summed on the device;
  no tie rule, no checks (`plain_loop`, below);
- ``evaluate``: ``evaluate(scorer, train, test, k, metrics=("recall",), device=...)``.

None of the three waits on the device inside its loop. Prints a table of medians (and min/max)
with each row's ratio to the plain loop, and checks that Recall@k of the plain loop and of
``evaluate`` agree to 1e-8 (exit status 1 otherwise). ``--breakdown`` adds the time of each step
on one batch, for the steps `evaluate` took before this benchmark (old) and takes now (new).
Datasets with a given split use it; others get a random per-user 80/20 split (seed 2020).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

import data_loaders
from recpref.data import Interactions, random_split
from recpref.evaluation import evaluate
from recpref.models import MF

Scorer = Callable[[torch.Tensor], torch.Tensor]


def matmul_only(scorer: Scorer, users: np.ndarray, batch_size: int, dev: torch.device) -> float:
    users_t = torch.from_numpy(users).to(dev)
    acc = torch.zeros((), device=dev)
    for s in range(0, users.size, batch_size):
        acc += scorer(users_t[s:s + batch_size])[0, 0]  # keep the result alive; no host sync per batch
    return float(acc)


def plain_loop(scorer: Scorer, train: Interactions, test: Interactions, users: np.ndarray, k: int,
               batch_size: int, dev: torch.device) -> float:
    """Mean Recall@k over ``users``: matmul, mask train items, topk, hits. No tie rule, no checks."""
    n_items = train.n_items
    counts = np.diff(train.indptr)[users]
    bounds = np.concatenate([[0], np.cumsum(counts)])  # the batch's train pairs are one slice
    starts = np.repeat(train.indptr[users] - bounds[:-1], counts) + np.arange(bounds[-1])
    rows = torch.from_numpy(np.repeat(np.arange(users.size), counts)).to(dev)  # every user's train pairs,
    cols = torch.from_numpy(train.indices[starts].astype(np.int64)).to(dev)  # uploaded once
    test_keys = torch.from_numpy(test.rows * n_items + test.indices).to(dev)  # sorted (CSR order)
    n_test = torch.from_numpy(np.diff(test.indptr)).to(dev)
    users_t = torch.from_numpy(users).to(dev)
    total = torch.zeros((), dtype=torch.float64, device=dev)
    for s in range(0, users.size, batch_size):
        e = min(s + batch_size, users.size)
        u = users_t[s:e]
        scores = scorer(u)
        scores[rows[bounds[s]:bounds[e]] - s, cols[bounds[s]:bounds[e]]] = float("-inf")
        top = torch.topk(scores, k, dim=1).indices
        keys = u[:, None] * n_items + top
        at = torch.searchsorted(test_keys, keys).clamp_(max=test_keys.numel() - 1)
        hits = (test_keys[at] == keys).sum(1)
        total += (hits.double() / n_test[u]).sum()
    return float(total) / users.size


def breakdown(scorer: Scorer, train: Interactions, test: Interactions, users: np.ndarray, k: int,
              batch_size: int, dev: torch.device, repeats: int) -> list[tuple[str, float]]:
    """Milliseconds (median of ``repeats``) of each step on one full batch of users: the steps
    `evaluate` took per batch before this benchmark existed (old) and the ones it takes now (new)."""
    from recpref.evaluation.ranking import block_positions, boundary_topk, gather_rows, mask_

    ub = users[:batch_size]
    u = torch.from_numpy(ub).to(dev)
    scores = scorer(u)
    rows, cols = (torch.from_numpy(a).to(dev) for a in gather_rows(train.indptr, train.indices, ub))
    flat = torch.from_numpy(block_positions(train, ub)).to(dev)
    test_rows, test_cols = gather_rows(test.indptr, test.indices, ub)
    trows, tcols = torch.from_numpy(test_rows).to(dev), torch.from_numpy(test_cols).to(dev)
    keys = torch.from_numpy(test_rows * train.n_items + test_cols).to(dev)  # sorted: CSR order
    buf = torch.empty_like(scores)
    masked = mask_(buf.copy_(scores), flat)
    top = torch.topk(masked, k, dim=1).indices
    kth = masked.gather(1, top[:, -1:])

    def dense_truth() -> torch.Tensor:
        truth = torch.zeros(scores.shape, dtype=torch.bool, device=dev)
        truth[trows, tcols] = True
        truth[rows, cols] = False
        return truth.gather(1, top)

    def key_hits() -> torch.Tensor:
        q = torch.arange(ub.size, device=dev)[:, None] * train.n_items + top
        at = torch.searchsorted(keys, q).clamp_(max=keys.numel() - 1)
        return keys[at] == q

    steps: list[tuple[str, Callable[[], object]]] = [
        ("matmul (the scorer)", lambda: scorer(u)),
        ("old: clone of the score block", lambda: scores.clone()),
        ("new: copy into a reused buffer", lambda: buf.copy_(scores)),
        ("old: NaN check over the block", lambda: bool(torch.isnan(scores).any(dim=1).any())),
        ("old + plain loop: mask by advanced indexing", lambda: buf.__setitem__((rows, cols), float("-inf"))),
        ("new: mask by one flat index_fill_", lambda: mask_(buf, flat)),
        ("plain loop: torch.topk k", lambda: torch.topk(masked, k, dim=1)),
        ("new: topk k+1 + canonical re-sort + tie/NaN flags", lambda: boundary_topk(masked, k)),
        ("old: tie check over the block (>= k-th, row sums)", lambda: bool(((masked >= kth).sum(dim=1) > k).any())),
        ("old: dense bool truth block + gather", dense_truth),
        ("new: hits by sorted keys", key_hits),
    ]
    out = []
    for name, fn in steps:
        times = []
        for _ in range(repeats):
            sec, _ = _timed(lambda: (fn(), 0.0)[1], dev)
            times.append(sec)
        out.append((name, 1000 * statistics.median(times)))
    return out


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _timed(fn: Callable[[], float], dev: torch.device) -> tuple[float, float]:
    _sync(dev)
    t0 = time.perf_counter()
    value = fn()
    _sync(dev)
    return time.perf_counter() - t0, value


def _machine(dev: torch.device) -> str:
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "no GPU used"
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, python "
            f"{platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} torch threads, {gpu}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="gowalla")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-users", type=int, default=None, help="evaluate only the first N test users")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time each step on one full batch (where the time goes, old and new evaluate)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    dev = torch.device(args.device)
    ds = data_loaders.load(args.dataset)
    if {"train", "test"} <= set(ds.splits):
        split, how = ds.split(), "given split"
    else:
        split, how = random_split(ds.interactions, test_ratio=0.2, seed=2020), "random 80/20 split, seed 2020"
    train, test = split.train, split.test
    users = np.flatnonzero(np.diff(test.indptr) > 0)[: args.max_users]
    torch.manual_seed(0)  # entry point: the random-init MF is the same every run
    user_emb, item_emb = (w.detach().to(dev) for w in MF(train.n_users, train.n_items, args.dim).embed())

    def scorer(u: torch.Tensor) -> torch.Tensor:
        return user_emb[u] @ item_emb.T

    def run_evaluate() -> float:
        return evaluate(scorer, train, test, k=args.k, metrics=("recall",), batch_size=args.batch_size,
                        device=dev, users=users)[f"recall@{args.k}"]

    rows: dict[str, Callable[[], float]] = {
        "matmul alone": lambda: matmul_only(scorer, users, args.batch_size, dev),
        "plain torch loop": lambda: plain_loop(scorer, train, test, users, args.k, args.batch_size, dev),
        "evaluate": run_evaluate,
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    values: dict[str, float] = {}
    for rep in range(args.repeats + 1):  # repeat 0 is the warm-up
        for name, fn in rows.items():
            sec, values[name] = _timed(fn, dev)
            if rep:
                times[name].append(sec)
    print(f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}; {_machine(dev)}")
    print(f"# command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"# {args.dataset} ({how}): {train.n_users} users x {train.n_items} items, {train.nnz} train / "
          f"{test.nnz} test pairs; {users.size} test users scored at k={args.k}, batches of {args.batch_size}, "
          f"random-init MF dim {args.dim}; {args.repeats} timed repeats after one warm-up, interleaved")
    print("# raw seconds: " + "; ".join(f"{n}: {', '.join(f'{t:.4f}' for t in ts)}" for n, ts in times.items()))
    plain = statistics.median(times["plain torch loop"])
    print("| step | median s | min s | max s | / plain loop |")
    print("|---|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.4f} | {min(ts):.4f} | {max(ts):.4f} | {med / plain:.2f}x |")
    diff = abs(values["evaluate"] - values["plain torch loop"])
    print(f"Recall@{args.k}: plain loop {values['plain torch loop']:.10f}, evaluate {values['evaluate']:.10f}, "
          f"|difference| {diff:.1e} ({'agree' if diff <= 1e-8 else 'DISAGREE'} to 1e-8)")
    if args.breakdown:
        print(f"\nOne batch of {min(args.batch_size, users.size)} users, each step alone, median of "
              f"{max(args.repeats, 5)} runs:")
        print("| step | ms per batch |")
        print("|---|---|")
        for name, ms in breakdown(scorer, train, test, users, args.k, args.batch_size, dev, max(args.repeats, 5)):
            print(f"| {name} | {ms:.1f} |")
    return 0 if diff <= 1e-8 else 1


if __name__ == "__main__":
    sys.exit(main())
