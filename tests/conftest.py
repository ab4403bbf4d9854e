"""Shared test configuration.

Tests that need a staged public dataset look under ``$RECPREF_DATA_DIR`` (CI sets it to
``../shared/datasets``); when unset we default to that same sibling folder so a local run
behaves like CI. Tests skip with a reason when their dataset is absent; ml-100k is
embedded in the recbole wheel and never skips.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RECPREF_DATA_DIR", str((REPO_ROOT.parent / "shared" / "datasets").resolve()))
# Keep the benchmark harness' RecBole/Lightning output out of the working tree.
os.environ.setdefault("MPLBACKEND", "Agg")
