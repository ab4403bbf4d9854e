"""What keeping freed memory (`recpref.training.allocator`) does to a whole CPU fit.

    .venv/bin/python benchmarks/allocator_effect.py [--dataset gowalla] [--epochs 2] [--repeats 2]

Each repeat trains the same `Recommender` (MF dim 64, sampled softmax against a shared pool of
1000, batch 2048, seed 0) for ``--epochs`` epochs in a fresh process, once with
``RECPREF_KEEP_FREED_MEMORY=1`` and once with ``=0`` (fit's default since this measurement), alternating, and prints the
wall seconds of `Recommender.fit` (data loading and imports excluded) and the final training loss
(the same in both: the setting must not change the updates).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = """
import sys, time, data_loaders
from recpref.serving import Recommender
ds = data_loaders.load(sys.argv[1])
train = ds.split().train if {"train", "test"} <= set(ds.splits) else ds.interactions
rec = Recommender(model="mf", loss="ssm", neg_pool=1000, temperature=0.8, lr=1e-3, reg=0.1,
                  epochs=int(sys.argv[2]), patience=None)
t0 = time.perf_counter()
rec.fit(train, progress=False)
print(f"{time.perf_counter() - t0:.2f} {rec.history[-1]['train/loss']:.6f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="gowalla")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.epochs < 1 or args.repeats < 1:
        parser.error(f"--epochs and --repeats must be >= 1; got {args.epochs}, {args.repeats}")
    print(f"# {args.dataset}: MF dim 64 + SSM, pool 1000, batch 2048, {args.epochs} epochs per fit; "
          f"{os.cpu_count()} CPU cores; each fit in a fresh process")
    print("| repeat | RECPREF_KEEP_FREED_MEMORY | fit s | last epoch loss |")
    print("|---|---|---|---|")
    for r in range(args.repeats):
        for setting in ("1", "0"):
            env = {**os.environ, "RECPREF_KEEP_FREED_MEMORY": setting}
            out = subprocess.run([sys.executable, "-c", CHILD, args.dataset, str(args.epochs)], env=env,
                                 capture_output=True, text=True, check=True).stdout.split()
            print(f"| {r + 1} | {setting} | {out[-2]} | {out[-1]} |", flush=True)


if __name__ == "__main__":
    main()
