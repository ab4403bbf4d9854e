"""Gowalla, Yelp2018, Amazon-Book in the NGCF/LightGCN `train.txt`/`test.txt` format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from data_loaders._core import Dataset, DatasetInfo, register
from data_loaders._parse import read_user_lines
from recpref.data import Interactions, Vocabulary

_SOURCES = {
    "gowalla": "Gowalla check-ins (SNAP, Cho et al. 2011), NGCF/LightGCN 10-core split, "
               "github.com/kuandeng/LightGCN Data/gowalla",
    "yelp2018": "Yelp 2018 challenge, NGCF/LightGCN 10-core split, github.com/kuandeng/LightGCN Data/yelp2018 "
                "(not staged here: put train.txt/test.txt in $RECPREF_DATA_DIR/yelp2018)",
    "amazon-book": "Amazon-Book (McAuley et al.), NGCF/LightGCN 10-core split, "
                   "github.com/kuandeng/LightGCN Data/amazon-book (not staged here)",
}


def _remap_frame(path: Path, key: str) -> pl.DataFrame | None:
    if not path.is_file():
        return None
    frame = pl.read_csv(path, separator=" ", schema_overrides={"org_id": pl.Utf8})
    return frame.rename({"remap_id": key, "org_id": "original_id"}).select(key, "original_id")


def parse_lightgcn(root: Path, name: str) -> Dataset:
    tu, ti, _ = read_user_lines(root / "train.txt")
    su, si, _ = read_user_lines(root / "test.txt")
    n_users = int(max(tu.max(), su.max())) + 1
    n_items = int(max(ti.max(), si.max())) + 1
    uv, iv = Vocabulary.identity(n_users), Vocabulary.identity(n_items)
    train = Interactions.from_indices(tu, ti, n_users=n_users, n_items=n_items, user_vocab=uv, item_vocab=iv)
    test = Interactions.from_indices(su, si, n_users=n_users, n_items=n_items, user_vocab=uv, item_vocab=iv)
    both = Interactions.from_indices(np.concatenate([tu, su]), np.concatenate([ti, si]), n_users=n_users,
                                     n_items=n_items, user_vocab=uv, item_vocab=iv)
    return Dataset(name, both, splits={"train": train, "test": test},
                   items=_remap_frame(root / "item_list.txt", "item_id"),
                   users=_remap_frame(root / "user_list.txt", "user_id"), root=root, source=_SOURCES[name])


def _register(name: str, files: dict[str, str | None]) -> DatasetInfo:
    return register(DatasetInfo(name=name, files=files, source=_SOURCES[name],
                                parse=lambda root: parse_lightgcn(root, name)))


GOWALLA = _register("gowalla", {
    "train.txt": "7244696fdeb23911319cf7b689f2e15a3c4c92549c873a5677b44e3f13cc3e62",
    "test.txt": "099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3",
    "user_list.txt": "5344c4d0deef610e1f148f23ad216a0db03b36f88834cd39a06786a672c5f5a1",
    "item_list.txt": "6b186f92890cc3f0c15a6dae5d6285f125a302bb8c5ea0cd9a16cf9c16347139",
})
# Not staged here and no published checksum: loads with an UNVERIFIED warning (Dataset.unverified).
YELP2018 = _register("yelp2018", {"train.txt": None, "test.txt": None})
AMAZON_BOOK = _register("amazon-book", {"train.txt": None, "test.txt": None})
