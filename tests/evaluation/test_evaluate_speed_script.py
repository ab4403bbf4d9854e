"""Smoke run of benchmarks/evaluate_speed.py at a tiny size, so the script cannot rot unnoticed
(its full Gowalla runs and their numbers are in docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_evaluate_speed_script_prints_the_table_and_agrees() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["benchmarks/evaluate_speed.py", "--dataset", "ml-100k", "--repeats", "1", "--max-users", "300",
            "--batch-size", "64", "--dim", "8"]
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "| step | median s | min s | max s | / plain loop |" in text
    for row in ("matmul alone", "plain torch loop", "evaluate"):
        assert f"| {row} |" in text
    assert "| plain torch loop |" in text and "| 1.00x |" in text
    assert "300 test users scored at k=20" in text
    assert "(agree to 1e-8)" in text
