"""MNAR-train / MAR-test datasets: Coat (Schnabel et al. 2016) and Yahoo! R3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from data_loaders._core import Dataset, DatasetInfo, register
from recpref.data import Interactions, Vocabulary

COAT_SOURCE = ("Coat (Schnabel et al., ICML 2016), https://www.cs.cornell.edu/~schnabts/mnar/; research use")
YAHOO_SOURCE = ("Yahoo! R3 music ratings, available on request from Yahoo! Webscope "
                "(https://webscope.sandbox.yahoo.com/, dataset R3); its licence forbids redistribution")
POSITIVE_RATING = 4.0  # ratings >= 4 are positives (Rel-MF / UBPR convention, methods.md 2.1)


def _dense_ratings(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    mat = np.loadtxt(path)
    if shape is not None and mat.shape != shape:
        raise ValueError(f"{path}: expected a {shape[0]}x{shape[1]} matrix, got {mat.shape}")
    if np.isnan(mat).any():
        raise ValueError(f"{path}: contains NaN")
    return mat


def _from_ratings(ratings: np.ndarray, uv: Vocabulary, iv: Vocabulary, threshold: float | None) -> Interactions:
    mask = ratings >= threshold if threshold is not None else ratings > 0
    u, i = np.nonzero(mask)
    return Interactions.from_indices(u, i, n_users=len(uv), n_items=len(iv), weights=ratings[u, i],
                                     user_vocab=uv, item_vocab=iv)


def rating_parts(train_r: np.ndarray, test_r: np.ndarray, name: str, root: Path, source: str,
                 extras: dict[str, object], items: pl.DataFrame | None = None,
                 users: pl.DataFrame | None = None, id_base: int = 0) -> Dataset:
    n_users, n_items = train_r.shape
    uv = Vocabulary(np.arange(id_base, id_base + n_users, dtype=np.int64))
    iv = Vocabulary(np.arange(id_base, id_base + n_items, dtype=np.int64))
    train = _from_ratings(train_r, uv, iv, POSITIVE_RATING)
    test = _from_ratings(test_r, uv, iv, POSITIVE_RATING)
    both_r = np.where(train_r >= POSITIVE_RATING, train_r, 0) + np.where(
        (test_r >= POSITIVE_RATING) & (train_r < POSITIVE_RATING), test_r, 0)
    extras = {
        **extras,
        "positive_rating": POSITIVE_RATING,
        "train_ratings": train_r,
        "test_ratings": test_r,
        # every shown (rated) test item, weight = rating: the candidate lists of the MAR protocol
        "test_candidates": _from_ratings(test_r, uv, iv, None),
        "train_observed": _from_ratings(train_r, uv, iv, None),
        # random test items can coincide with self-selected train items (Coat: 366 cells)
        "split_overlap_expected": True,
    }
    return Dataset(name, _from_ratings(both_r, uv, iv, POSITIVE_RATING), splits={"train": train, "test": test},
                   items=items, users=users, extras=extras, root=root, source=source)


def _one_hot_frame(matrix_path: Path, names_path: Path, key: str) -> pl.DataFrame:
    mat = np.loadtxt(matrix_path).astype(np.int8)
    names = [n.strip() for n in names_path.read_text(encoding="utf-8").splitlines() if n.strip()]
    if mat.shape[1] != len(names):
        raise ValueError(f"{matrix_path}: {mat.shape[1]} columns but {len(names)} names in {names_path}")
    cols: dict[str, object] = {key: np.arange(mat.shape[0])}
    cols.update({n: mat[:, j] for j, n in enumerate(names)})
    return pl.DataFrame(cols)


def _parse_coat(root: Path) -> Dataset:
    train_r = _dense_ratings(root / "train.ascii", (290, 300))
    test_r = _dense_ratings(root / "test.ascii", (290, 300))
    prop = _dense_ratings(root / "propensities.ascii", (290, 300))
    feats = root / "user_item_features"
    return rating_parts(
        train_r, test_r, "coat", root, COAT_SOURCE, {"propensities": prop},
        items=_one_hot_frame(feats / "item_features.ascii", feats / "item_features_map.txt", "item_id"),
        users=_one_hot_frame(feats / "user_features.ascii", feats / "user_features_map.txt", "user_id"),
    )


COAT = register(DatasetInfo(
    name="coat",
    files={
        "train.ascii": "a87bd9e7eaf3b89f976df3f25d4aa5d5d871be8a00b58947df9e6e015559bd37",
        "test.ascii": "de6714ab105a5e0be8166be7fd313901b29f9a09c3bea307901457d1d71847e6",
        "propensities.ascii": "d1b11b12465dc6e1df35eeed92dfec5e17a997f920d60777cc44571fe9b054e5",
        "user_item_features/user_features.ascii": "d8f9531b601c54a7272602f8b21fa6cb4652cbf122e35d8615ea9645ebbf1b1f",
        "user_item_features/item_features.ascii": "edea8217ec5606779b4d3bf819f7591dc63bcd5194d619e8048c2322d07630b1",
        "user_item_features/user_features_map.txt": "86dfa86c468f2213b0a7acab072cc8e4bd66d05ed050d1e1f2f452c1e9fd195b",
        "user_item_features/item_features_map.txt": "70f97e53b6469a08ba76d259e92de9a4931f97693d2669f8e8836330d30fc109",
    },
    source=COAT_SOURCE,
    parse=_parse_coat,
))

_YAHOO_DIR = "ydata-ymusic-rating-study-v1"
_YAHOO_TRAIN = f"{_YAHOO_DIR}/ydata-ymusic-user-song-ratings-meta-lens-train.txt"
_YAHOO_TEST = f"{_YAHOO_DIR}/ydata-ymusic-user-song-ratings-meta-lens-test.txt"


def _read_triples(path: Path) -> np.ndarray:
    raw = np.loadtxt(path, dtype=np.int64, ndmin=2)
    if raw.shape[1] != 3:
        raise ValueError(f"{path}: expected 'user song rating' per line, got {raw.shape[1]} columns")
    if raw[:, :2].min() < 1:
        raise ValueError(f"{path}: user and song ids are 1-based; found an id < 1")
    if ((raw[:, 2] < 1) | (raw[:, 2] > 5)).any():
        raise ValueError(f"{path}: ratings must be 1..5")
    return raw


def _parse_yahoo(root: Path) -> Dataset:
    tr, te = _read_triples(root / _YAHOO_TRAIN), _read_triples(root / _YAHOO_TEST)
    n_users = int(max(tr[:, 0].max(), te[:, 0].max()))
    n_items = int(max(tr[:, 1].max(), te[:, 1].max()))
    train_r = np.zeros((n_users, n_items))
    test_r = np.zeros((n_users, n_items))
    for mat, raw, path in ((train_r, tr, _YAHOO_TRAIN), (test_r, te, _YAHOO_TEST)):
        keys = (raw[:, 0] - 1) * n_items + raw[:, 1] - 1
        if np.unique(keys).size != keys.size:
            raise ValueError(f"{root / path}: duplicate (user, song) rows")
        mat[raw[:, 0] - 1, raw[:, 1] - 1] = raw[:, 2]
    return rating_parts(train_r, test_r, "yahoo-r3", root, YAHOO_SOURCE, {}, id_base=1)  # raw ids stay 1-based


YAHOO = register(DatasetInfo(
    name="yahoo-r3",
    files={_YAHOO_TRAIN: None, _YAHOO_TEST: None},
    source=YAHOO_SOURCE,
    parse=_parse_yahoo,
    needs_user_path=True,
))
