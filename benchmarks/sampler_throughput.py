"""Sampler throughput: (user, positive, negative) triples per second.

    .venv/bin/python benchmarks/sampler_throughput.py [--triples 10000000] [--dataset ml-100k] [--device cpu]

Draws the triples in batches of 2048 x 64 (as `SampledBatches` does for a chunk of 64 steps;
with the "shuffle" stream the positives come from one permutation of all pairs per epoch)
with recpref's exact samplers (negatives are never a positive of the user), after one warm-up
batch, and prints a table. Compare with RecBole's sampler by running RecBole itself (its
``RecBole BPR`` epoch times are in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import time

import torch

import data_loaders
from recpref.sampling import PopularitySampler, PositiveSampler, UniformSampler, make_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--triples", type=int, default=10_000_000)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chunk", type=int, default=2048 * 64)
    args = parser.parse_args()
    ds = data_loaders.load(args.dataset)
    train = ds.split().train if {"train", "test"} <= set(ds.splits) else ds.interactions
    print(f"# {args.dataset}: {train.n_users} users x {train.n_items} items, {train.nnz} interactions; "
          f"{args.triples:,} triples per row, chunks of {args.chunk:,}; device {args.device}, "
          f"torch threads {torch.get_num_threads()}")
    print("| positives | negatives | triples/s | seconds |")
    print("|---|---|---|---|")
    for stream in ("interactions", "shuffle"):
        for name, neg in (("uniform", UniformSampler(train, device=args.device)),
                          ("popularity^0.75", PopularitySampler(train, exponent=0.75, device=args.device))):
            pos = PositiveSampler(train, stream, device=args.device)
            gen = make_generator(0, device=args.device)
            u, _ = pos.epoch(args.chunk, gen)
            neg.sample(u, 1, gen)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            done = 0
            buf_u = buf_p = torch.empty(0, dtype=torch.long)
            t0 = time.perf_counter()
            while done < args.triples:
                if len(buf_u) < args.chunk:  # "shuffle": one permutation per epoch, as in training
                    buf_u, buf_p = pos.epoch(train.nnz if stream == "shuffle" else args.chunk, gen)
                u, p = buf_u[: args.chunk], buf_p[: args.chunk]
                buf_u, buf_p = buf_u[args.chunk:], buf_p[args.chunk:]
                n = neg.sample(u, 1, gen)
                done += u.numel()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            sec = time.perf_counter() - t0
            print(f"| {stream} | {name} | {done / sec / 1e6:.1f}M | {sec:.2f} |", flush=True)
            del p, n


if __name__ == "__main__":
    main()
