"""Multi-interest retrieval: exact torch top-k against faiss (IndexFlatIP, IndexHNSWFlat), in one run.

    .venv/bin/python benchmarks/ann_recall.py [--data gaussian clustered] [--users 1000] [--threads 1]

Amazon-Beauty-shaped by default: 12,101 items, d = 64, K = 4 interests, 1,000 users, top-50 per
interest (`recpref.serving.retrieval.search_interests`), then each user's top-50 by f = max over
the interests (`retrieve` + `aggregate` with lam = 0). Two synthetic embedding sets (no trained
model): ``gaussian`` (i.i.d. N(0, 1) items and interests, the hard case for a graph index) and
``clustered`` (items = one of 245 centres, the number of Beauty leaf categories, plus noise;
interests near a centre).

Columns: ``build s`` (index construction), ``recall@N`` (per interest: |index top-N and exact
top-N| / N, mean over the interest queries), ``final recall@N`` (the same for each user's merged
top-N by f), ``users/s`` and ``queries/s`` (interest vectors searched per second; the median of
``--repeats`` timed runs of the search alone). Timings depend on the machine and on what else runs
on it; the defaults use one thread for torch and faiss.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import statistics
import time
from collections.abc import Callable

import torch

from recpref.models import Interests
from recpref.serving.retrieval import FaissIndex, ItemIndex, aggregate, retrieve, search_interests


def _data(kind: str, n_items: int, dim: int, n_users: int, k: int, seed: int) -> tuple[torch.Tensor, Interests]:
    g = torch.Generator().manual_seed(seed)
    if kind == "gaussian":
        items = torch.randn(n_items, dim, generator=g)
        vectors = torch.randn(n_users, k, dim, generator=g)
    elif kind == "clustered":
        centres = torch.randn(245, dim, generator=g)
        items = centres[torch.randint(245, (n_items,), generator=g)] + 0.5 * torch.randn(n_items, dim, generator=g)
        vectors = centres[torch.randint(245, (n_users, k), generator=g)] + 0.5 * torch.randn(n_users, k, dim,
                                                                                          generator=g)
    else:
        raise ValueError(f"unknown data {kind!r}")
    return items, Interests(vectors, torch.ones(n_users, k, dtype=torch.bool))


def _overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """a, b (..., N) ids -> mean over rows of |a and b| / N."""
    return float((a.unsqueeze(-1) == b.unsqueeze(-2)).any(-1).double().mean())


def _timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(kind: str, args: argparse.Namespace) -> None:
    items, interests = _data(kind, args.items, args.dim, args.users, args.interests, args.seed)
    n = args.n
    zeros = torch.zeros(args.items, dtype=torch.int64)
    exact_lists = search_interests(interests, items, n)[0]
    exact_final = aggregate(*retrieve(interests, items, n), zeros, n, 0.0)
    rows: list[tuple[str, float, float, float, float]] = []

    def measure(name: str, index: ItemIndex | None, build_s: float) -> None:
        lists = search_interests(interests, items, n, index=index)[0]
        final = aggregate(*retrieve(interests, items, n, index=index), zeros, n, 0.0)
        seconds = _timed(lambda: search_interests(interests, items, n, index=index), args.repeats)
        rows.append((name, build_s, _overlap(lists, exact_lists), _overlap(final, exact_final), seconds))

    measure("exact (torch top-k)", None, 0.0)
    t0 = time.perf_counter()
    flat = FaissIndex(items, "flat")
    measure("faiss IndexFlatIP", flat, time.perf_counter() - t0)
    t0 = time.perf_counter()
    hnsw = FaissIndex(items, "hnsw", m=args.m, ef_construction=args.ef_construction)
    build = time.perf_counter() - t0
    for ef in args.ef_search:
        hnsw.ef_search = ef
        measure(f"faiss HNSW (M {args.m}, efC {args.ef_construction}, efSearch {ef})", hnsw, build)

    print(f"\n{kind}: {args.items} items, d {args.dim}, {args.users} users x {args.interests} interests, "
          f"top-{n} per interest, {torch.get_num_threads()} thread(s)\n")
    print(f"| index | build s | recall@{n} | final recall@{n} | users/s | queries/s |")
    print("|---|---|---|---|---|---|")
    q = args.users * args.interests
    for name, build_s, rec, final_rec, seconds in rows:
        print(f"| {name} | {build_s:.2f} | {rec:.4f} | {final_rec:.4f} | {args.users / seconds:,.0f} | "
              f"{q / seconds:,.0f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["gaussian", "clustered"], choices=["gaussian", "clustered"])
    p.add_argument("--items", type=int, default=12101)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--interests", type=int, default=4)
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--m", type=int, default=32)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    import faiss

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {platform.machine()}, "
          f"{os.cpu_count()} CPU cores, torch {torch.__version__}, faiss {faiss.__version__}; load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n# $ .venv/bin/python {' '.join(sys.argv)}", flush=True)
    for kind in args.data:
        run(kind, args)


if __name__ == "__main__":
    main()
