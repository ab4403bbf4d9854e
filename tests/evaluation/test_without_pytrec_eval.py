"""Without the optional pytrec_eval extension only the cross-checks against it skip; every
other evaluation test still runs (a module-level importorskip used to skip them all)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK_AND_RUN = (
    "import sys; sys.modules['pytrec_eval'] = None; import pytest; "  # None: `import pytrec_eval` fails
    "sys.exit(pytest.main(sys.argv[1:]))"
)


def test_only_the_pytrec_eval_cross_checks_skip_without_it() -> None:
    files = ["tests/evaluation/test_evaluate.py", "tests/evaluation/test_candidates.py"]
    out = subprocess.run([sys.executable, "-c", BLOCK_AND_RUN, *files, "-q", "-rs", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = out.stdout.strip().splitlines()[-1]

    def count(word: str) -> int:
        found = re.search(rf"(\d+) {word}", summary)
        return int(found.group(1)) if found else 0

    passed, skipped = count("passed"), count("skipped")
    skip_lines = [line for line in out.stdout.splitlines() if line.startswith("SKIPPED")]
    assert passed >= 20, summary
    assert skipped > 0, "the cross-checks should skip when pytrec_eval is missing"
    assert all("pytrec_eval" in line for line in skip_lines), skip_lines
