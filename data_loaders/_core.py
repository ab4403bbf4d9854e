"""Dataset container, registry, root resolution and sha256 verification."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from recpref.data import Interactions, Split

log = logging.getLogger("data_loaders")


class ChecksumError(ValueError):
    """A dataset file's sha256 differs from the manifest: corrupted or a different version."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is missing."""


@dataclass(frozen=True)
class Dataset:
    """A loaded public dataset. ``interactions`` holds every positive interaction; ``splits``
    the dataset's own predefined parts (same vocabularies); ``items``/``users`` side
    information keyed by the raw ``item_id``/``user_id``."""

    name: str
    interactions: Interactions
    splits: dict[str, Interactions] = field(default_factory=dict)
    items: pl.DataFrame | None = None
    users: pl.DataFrame | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    root: Path = Path(".")
    source: str = ""
    unverified: tuple[str, ...] = ()
    """Files (relative to ``root``) read without a checksum check: recpref knows no staged or
    published checksum for them (see `check_files`). Empty when every file was verified."""

    def split(self) -> Split:
        """The predefined train/(valid)/test parts as a `recpref.data.Split`."""
        if "train" not in self.splits or "test" not in self.splits:
            raise ValueError(
                f"dataset {self.name!r} defines no train/test split (parts: {sorted(self.splits) or 'none'}); "
                "use recpref.data.random_split or leave_last_out on .interactions"
            )
        allow = bool(self.extras.get("split_overlap_expected", False))
        return Split(train=self.splits["train"], test=self.splits["test"], valid=self.splits.get("valid"),
                     allow_overlap=allow)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v.nnz}" for k, v in self.splits.items())
        return (f"Dataset({self.name!r}, users={self.interactions.n_users}, items={self.interactions.n_items}, "
                f"interactions={self.interactions.nnz}{', ' + parts if parts else ''}, root={str(self.root)!r})")


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about a dataset: its files with sha256 (None = unknown, warn),
    where it comes from, and its parser."""

    name: str
    files: Mapping[str, str | None]
    source: str
    parse: Callable[[Path], Dataset]
    default_root: Callable[[], Path] | None = None
    needs_user_path: bool = False


REGISTRY: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    REGISTRY[info.name] = info
    return info


def data_dir() -> Path | None:
    value = os.environ.get("RECPREF_DATA_DIR")
    return Path(value).expanduser() if value else None


def resolve_root(info: DatasetInfo, root: str | Path | None) -> Path:
    if root is not None:
        return Path(root).expanduser()
    if info.needs_user_path:
        raise DatasetNotFoundError(
            f"{info.name} cannot be redistributed, so recpref cannot find it for you: pass root=<directory "
            f"holding {', '.join(info.files)}>. Source: {info.source}"
        )
    base = data_dir()
    if base is not None and (base / info.name).exists():
        return base / info.name
    if info.default_root is not None:
        return info.default_root()
    if base is None:
        raise DatasetNotFoundError(
            f"no root for {info.name}: pass root=... or set RECPREF_DATA_DIR to a directory containing "
            f"{info.name}/ with {', '.join(info.files)}. Source: {info.source}"
        )
    return base / info.name


_VERIFIED: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _VERIFIED[key] = h.hexdigest()
    return _VERIFIED[key]


def check_files(info: DatasetInfo, root: Path, verify: bool = True) -> list[str]:
    """Every manifest file exists under ``root`` and (when ``verify``) matches its sha256.

    Returns the files that could not be verified: those with no known sha256 (every file when
    ``verify`` is False). Each unverified file is logged as a warning naming it."""
    missing = [rel for rel in info.files if not (root / rel).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{info.name}: missing {', '.join(str(root / m) for m in missing)}. Expected under {root}: "
            f"{', '.join(info.files)}. Source: {info.source}"
        )
    if not verify:
        return list(info.files)
    unverified: list[str] = []
    for rel, expected in info.files.items():
        actual = sha256_file(root / rel)
        if expected is None:
            unverified.append(rel)
            log.warning("%s: %s is UNVERIFIED: no known sha256 for it (no staged or published checksum); "
                        "this copy's sha256 is %s (record it if this copy is trusted)", info.name, root / rel, actual)
        elif actual != expected:
            raise ChecksumError(
                f"{info.name}: {root / rel} has sha256 {actual}, expected {expected}; the file is corrupted "
                f"or a different version. Re-fetch it. Source: {info.source}"
            )
    return unverified
