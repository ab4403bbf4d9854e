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


def cyclic_interactions(n_users: int = 120, seed: int = 0, *, n_items: int = 30, lengths: tuple[int, int] = (6, 11),
                        n_extra_items: int = 0) -> "Interactions":
    """A toy sequence dataset with a known next-item rule, shared by the sequence tests (import it
    with ``from conftest import cyclic_interactions``): each user ``u<k>`` walks the catalogue in
    steps of +1 (mod ``n_items``) from a random start for ``lengths`` = [low, high) events, so the
    next item is always the last + 1 and no user repeats an item (high <= n_items + 1).
    Timestamps = positions; item ``i<j>`` has index j; ``n_extra_items`` items that no user
    touches join the vocabulary."""
    import numpy as np

    from recpref.data import Interactions, Vocabulary

    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        start, length = int(rng.integers(n_items)), int(rng.integers(*lengths))
        for t in range(length):
            users.append(f"u{u}")
            items.append(f"i{(start + t) % n_items}")
            times.append(float(t))
    vocab = Vocabulary(np.array([f"i{j}" for j in range(n_items + n_extra_items)], dtype=object))
    return Interactions.from_raw(users, items, timestamps=np.asarray(times), item_vocab=vocab)
