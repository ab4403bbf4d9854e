"""Smoke run of benchmarks/sampler_throughput.py at a tiny size, so the script (its RecBole setup
under the runner's shims, and its check that the rebuilt pre-fix stream matches today's) cannot
rot unnoticed. Its numbers are in docs/benchmarks.md, never asserted here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sampler_throughput_script_prints_every_row() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "benchmarks/sampler_throughput.py", "--datasets", "ml-100k",
                          "--triples", "20000", "--repeats", "1"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and not line.startswith("| row")]
    names = [r.split(" | ")[0][2:] for r in rows]
    assert len(rows) == 12 and "pre-fix stream (uniform, interactions)" in names
    assert "RecBole TrainDataLoader (as its Trainer iterates)" in names
    assert all(r.endswith("x |") for r in rows)  # every row has both ratios
