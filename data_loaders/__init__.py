"""Public dataset loaders: files + sha256 manifest + parser -> `recpref.data` objects.

    >>> import data_loaders
    >>> ds = data_loaders.load("ml-100k")          # embedded in the recbole wheel, no download
    >>> ds.interactions.shape
    (943, 1682)

Other datasets are read from ``root`` or ``$RECPREF_DATA_DIR/<name>``. Every file with a known
sha256 is checked before it is parsed; known are the files staged in the shared datasets
directory (ml-100k's recbole copy, ml-1m, gowalla, coat, amazon-beauty, amazon-toys, nbpo-amazon,
sprec-goodreads) and GroupLens' own MovieLens files when their zip (published md5) is still next
to them. The rest (yelp2018, amazon-book, yahoo-r3, amazon-sports, GroupLens-layout MovieLens
files without their zip) have no staged or published checksum: they load with a warning that
names them, and `Dataset.unverified` lists them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from data_loaders import lightgcn, mnar, movielens, sequences, small  # noqa: F401 - registers datasets
from data_loaders._core import (
    REGISTRY,
    ChecksumError,
    Dataset,
    DatasetInfo,
    DatasetNotFoundError,
    check_files,
    resolve_root,
    sha256_file,
)

__all__ = [
    "ChecksumError",
    "Dataset",
    "DatasetNotFoundError",
    "DatasetStatus",
    "load",
    "names",
    "sha256_file",
    "status",
]


def names() -> list[str]:
    """Every dataset name `load` knows."""
    return list(REGISTRY)


def _info(name: str) -> DatasetInfo:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}") from None


def _layout(info: DatasetInfo, root: Path) -> DatasetInfo:
    """GroupLens' own layout (after download=True) has other files than the staged copies."""
    if info.name == "ml-1m" and (root / "ratings.dat").is_file():
        files = movielens.grouplens_manifest("ml-1m", root, movielens.ML1M_GROUPLENS_FILES)
        return dataclasses.replace(info, files=files)
    if info.name == "ml-100k" and (root / "u.data").is_file() and not (root / "ml-100k.inter").is_file():
        files = movielens.grouplens_manifest("ml-100k", root, movielens.ML100K_GROUPLENS_FILES)
        return dataclasses.replace(info, files=files)
    return info


def load(name: str, root: str | Path | None = None, *, download: bool = False, verify: bool = True) -> Dataset:
    """Load dataset ``name`` from ``root`` (default ``$RECPREF_DATA_DIR/<name>``; ml-100k
    defaults to the copy inside the recbole wheel).

    ``download=True`` (MovieLens only) fetches GroupLens' zip into ``root`` or
    ``~/.cache/recpref/<name>`` when the files are not there, checking its published md5.
    Raises `DatasetNotFoundError` for missing files, `ChecksumError` for a sha256 mismatch. Files
    with no known checksum are loaded with a warning and listed in the result's ``unverified``.
    """
    info = _info(name)
    if download:
        if name not in movielens.URLS:
            raise ValueError(f"download=True is only available for {sorted(movielens.URLS)}; {name}: {info.source}")
        base = Path(root).expanduser() if root is not None else Path.home() / ".cache" / "recpref" / name
        if not any((base / f).is_file() for f in ("u.data", "ratings.dat", "ml-100k.inter")):
            movielens.download(name, base)
        path = base
    else:
        path = resolve_root(info, root)
    info = _layout(info, path)
    unverified = check_files(info, path, verify=verify)
    return dataclasses.replace(info.parse(path), unverified=tuple(unverified))


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    root: str
    available: bool
    verified: bool | None
    message: str


def status(verify: bool = True) -> list[DatasetStatus]:
    """For each known dataset: where it would be read from, whether its files are there and
    whether they match the manifest (None when not checked or no checksum is known)."""
    out: list[DatasetStatus] = []
    for name, info in REGISTRY.items():
        try:
            path = resolve_root(info, None)
        except DatasetNotFoundError as exc:
            out.append(DatasetStatus(name, "-", False, None, str(exc).split(":")[0]))
            continue
        try:
            info = _layout(info, path)
        except ChecksumError as exc:
            out.append(DatasetStatus(name, str(path), True, False, str(exc).split(";")[0]))
            continue
        missing = [f for f in info.files if not (path / f).is_file()]
        if missing:
            out.append(DatasetStatus(name, str(path), False, None, f"missing {len(missing)} file(s)"))
            continue
        if not verify:
            out.append(DatasetStatus(name, str(path), True, None, "present (not verified)"))
            continue
        try:
            check_files(info, path, verify=True)
        except ChecksumError as exc:
            out.append(DatasetStatus(name, str(path), True, False, str(exc).split(";")[0]))
            continue
        unknown = [f for f, v in info.files.items() if v is None]
        out.append(DatasetStatus(name, str(path), True, None if unknown else True,
                                 f"UNVERIFIED: no known sha256 for {', '.join(unknown)}" if unknown else "sha256 ok"))
    return out
