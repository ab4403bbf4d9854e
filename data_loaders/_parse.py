"""Small parsing helpers shared by the loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_user_lines(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines ``user item item ...`` -> (users, items, position within the line), int64.

    A line with a user and no items contributes nothing (and is reported by the caller if it
    matters). Non-integer tokens raise ValueError naming the file and line.
    """
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    pos: list[np.ndarray] = []
    with path.open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                values = np.array(parts, dtype=np.int64)
            except ValueError:
                raise ValueError(f"{path}:{lineno}: expected integers 'user item item ...', got {line[:80]!r}") from None
            row = values[1:]
            users.append(np.full(row.size, values[0], dtype=np.int64))
            items.append(row)
            pos.append(np.arange(row.size, dtype=np.int64))
    if not users:
        raise ValueError(f"{path} holds no interactions")
    return np.concatenate(users), np.concatenate(items), np.concatenate(pos)
