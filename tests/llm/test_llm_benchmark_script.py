"""Smoke run of benchmarks/llm_sprec.py (a tiny random Llama, a handful of prompts, ml-100k)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "benchmarks/llm_sprec.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow  # about a minute on a quiet machine, several under load; the CLI tests run the same runner
def test_llm_script_prints_a_row_per_method_and_the_classical_row(tmp_path: Path) -> None:
    out = _run(["--dataset", "ml-100k", "--smoke", "--methods", "sft,sprec", "--sft0-prompts", "4",
                "--iteration-prompts", "4", "--eval-prompts", "4", "--groundings", "beam", "--rejected-from", "trie",
                "--classical", "mean", "--out", str(tmp_path)])
    assert out.returncode == 0, out.stderr[-3000:]
    for row in ("| sft | beam | sft0 |", "| sprec | beam | dpo1 |", "| recpref mean | full ranking | - |"):
        assert row in out.stdout
    assert "| dpo-random |" not in out.stdout  # only the methods asked for
    bad = _run(["--methods", "ppo"])
    assert bad.returncode == 2 and "--methods: unknown ['ppo']" in bad.stderr
    bad = _run(["--methods", "sdpo", "--negatives", "1"])
    assert bad.returncode == 2 and "--negatives must be >= 2" in bad.stderr
