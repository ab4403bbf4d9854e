"""Every loader on the staged data (skipped with a reason when absent; ml-100k never skips),
checksum refusal, missing-file errors, and generated files for datasets not staged here."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

import data_loaders
from data_loaders import ChecksumError, DatasetNotFoundError, movielens
from data_loaders._core import REGISTRY

SHARED = Path(os.environ.get("RECPREF_DATA_DIR", "../shared/datasets"))

# name -> (n_users, n_items, nnz of .interactions, {split: nnz}) from each SOURCE.md
EXPECTED = {
    "gowalla": (29858, 40981, 1027370, {"train": 810128, "test": 217242}),
    "coat": (290, 300, None, {}),
    "ml-1m": (6040, 3706, 1000209, {}),
    "amazon-beauty": (22363, 12101, 198502, {}),
    "amazon-toys": (19412, 11924, 167597, {}),
    "nbpo-amazon": (1435, 1522, 31887 + 4044 + 4044, {"train": 31887, "valid": 4044, "test": 4044}),
    "sprec-goodreads": (5000, 4058, None, {"test": 5000}),
}


def _staged(name: str) -> Path:
    root = SHARED / name
    if not root.is_dir():
        pytest.skip(f"{name} not found under {root}; set RECPREF_DATA_DIR to the shared datasets directory")
    return root


def test_ml100k_embedded_never_skips() -> None:
    ds = data_loaders.load("ml-100k")
    assert ds.interactions.shape == (943, 1682) and ds.interactions.nnz == 100000
    assert ds.interactions.timestamps is not None
    ratings = ds.extras["ratings"]
    assert ratings.shape == (100000,) and set(np.unique(ratings)) == {1, 2, 3, 4, 5}
    assert ds.items is not None and {"item_id", "title", "genres"} <= set(ds.items.columns)
    toy = ds.items.filter(ds.items["item_id"] == "1")
    assert toy["title"][0] == "Toy Story"
    assert ds.users is not None and ds.users.height == 943
    # raw ids are the file's tokens, and their ratings stay aligned with the CSR order
    u = int(ds.interactions.user_vocab.index(np.array(["196"]))[0])
    i = int(ds.interactions.item_vocab.index(np.array(["242"]))[0])
    pos = ds.interactions.indptr[u] + np.searchsorted(ds.interactions.items_of(u), i)
    assert ratings[pos] == 3  # first line of ml-100k.inter: 196 242 3 881250949


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_staged_loader_sizes(name: str) -> None:
    root = _staged(name)
    ds = data_loaders.load(name, root=root)
    n_users, n_items, nnz, parts = EXPECTED[name]
    assert ds.interactions.n_users == n_users and ds.interactions.n_items == n_items
    if nnz is not None:
        assert ds.interactions.nnz == nnz
    for part, count in parts.items():
        assert ds.splits[part].nnz == count
    if {"train", "test"} <= set(ds.splits):
        split = ds.split()  # same vocabularies, disjoint unless the dataset says otherwise
        assert split.train.same_space(split.test)


def test_coat_parts_and_candidates() -> None:
    root = _staged("coat")
    ds = data_loaders.load("coat", root=root)
    assert ds.extras["train_observed"].nnz == 6960 and ds.extras["test_candidates"].nnz == 4640
    assert np.all(np.diff(ds.extras["test_candidates"].indptr) == 16)
    prop = ds.extras["propensities"]
    assert prop.shape == (290, 300) and prop.min() > 0
    train_r = ds.extras["train_ratings"]
    assert ds.splits["train"].nnz == int((train_r >= 4).sum()) == 1275 + 630
    assert ds.items is not None and ds.items.shape == (300, 34)
    assert ds.users is not None and ds.users.shape == (290, 15)


def test_sequences_keep_time_order() -> None:
    root = _staged("amazon-beauty")
    ds = data_loaders.load("amazon-beauty", root=root)
    u0 = int(ds.interactions.user_vocab.index(np.array([1]))[0])
    row = slice(ds.interactions.indptr[u0], ds.interactions.indptr[u0 + 1])
    ts = ds.interactions.timestamps
    assert ts is not None
    items = ds.interactions.item_vocab.to_raw(ds.interactions.indices[row])
    assert list(items[np.argsort(ts[row])]) == [1, 2, 3, 4, 5]
    assert ds.items is not None and ds.items["title"][0].startswith("OPI Nail Lacquer")


def test_sprec_histories_and_targets() -> None:
    root = _staged("sprec-goodreads")
    ds = data_loaders.load("sprec-goodreads", root=root)
    prompts = ds.extras["prompts"]
    assert prompts.height == 5000
    assert all(len(h) >= 4 for h in prompts["history"].to_list())
    assert len(ds.extras["unmatched_titles"]) < 20


def _copy(name: str, tmp_path: Path) -> Path:
    src = _staged(name) if name != "ml-100k" else movielens.recbole_ml100k_dir()
    dst = tmp_path / name
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    return dst


@pytest.mark.parametrize("name", ["ml-100k", *sorted(EXPECTED)])
def test_corrupted_file_is_refused(name: str, tmp_path: Path) -> None:
    root = _copy(name, tmp_path)
    target = root / next(f for f, sha in REGISTRY[name].files.items() if sha is not None)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="corrupted"):
        data_loaders.load(name, root=root)


@pytest.mark.parametrize("name", ["ml-100k", "coat", "gowalla"])
def test_missing_file_names_expected_path(name: str, tmp_path: Path) -> None:
    root = _copy(name, tmp_path)
    first = next(iter(REGISTRY[name].files))
    (root / first).unlink()
    with pytest.raises(DatasetNotFoundError, match=str(root / first).replace("\\", "\\\\")):
        data_loaders.load(name, root=root)


# Datasets with no staged or published checksum for some file (docs/benchmarks.md and README say so).
UNVERIFIED = {"yelp2018", "amazon-book", "yahoo-r3", "amazon-sports"}


def test_exactly_the_documented_datasets_lack_a_checksum() -> None:
    lacking = {name for name, info in REGISTRY.items() if any(sha is None for sha in info.files.values())}
    assert lacking == UNVERIFIED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_staged_data_file_has_a_checksum(name: str) -> None:
    root = _staged(name)
    staged = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    data_files = {f for f in staged if not f.startswith(("SOURCE", "README"))}
    files = REGISTRY[name].files
    assert data_files <= set(files), f"staged but not in the manifest: {sorted(data_files - set(files))}"
    assert all(files[f] is not None for f in data_files)


def test_verified_load_lists_nothing_unverified() -> None:
    assert data_loaders.load("ml-100k").unverified == ()


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(ValueError, match="known: .*ml-100k"):
        data_loaders.load("netflix")


def test_missing_root_tells_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECPREF_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="missing"):
        data_loaders.load("gowalla")
    monkeypatch.delenv("RECPREF_DATA_DIR")
    with pytest.raises(DatasetNotFoundError, match="RECPREF_DATA_DIR"):
        data_loaders.load("gowalla")


# ----------------------------------------------------- generated files, datasets not staged
@pytest.mark.parametrize("name", ["yelp2018", "amazon-book"])
def test_lightgcn_format_parser(name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "train.txt").write_text("0 0 2 3\n1 1\n2 3 0\n")
    (tmp_path / "test.txt").write_text("0 1\n1 4\n2 2\n")
    ds = data_loaders.load(name, root=tmp_path)
    assert ds.interactions.shape == (3, 5)
    assert ds.splits["train"].nnz == 6 and ds.splits["test"].nnz == 3
    assert "no known sha256" in caplog.text and hashlib.sha256(b"0 0 2 3\n1 1\n2 3 0\n").hexdigest() in caplog.text
    assert "UNVERIFIED" in caplog.text and str(tmp_path / "train.txt") in caplog.text
    assert ds.unverified == ("train.txt", "test.txt")
    ds.split()


def test_lightgcn_bad_token_names_line(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("0 0 2\n1 x\n")
    (tmp_path / "test.txt").write_text("0 1\n")
    with pytest.raises(ValueError, match="train.txt:2"):
        data_loaders.load("yelp2018", root=tmp_path)


def _yahoo_files(root: Path, train: str, test: str) -> None:
    d = root / "ydata-ymusic-rating-study-v1"
    d.mkdir(parents=True)
    (d / "ydata-ymusic-user-song-ratings-meta-lens-train.txt").write_text(train)
    (d / "ydata-ymusic-user-song-ratings-meta-lens-test.txt").write_text(test)


def test_yahoo_parser_on_generated_file(tmp_path: Path) -> None:
    _yahoo_files(tmp_path, "1\t1\t5\n1\t2\t1\n2\t3\t4\n3\t1\t2\n", "1\t3\t4\n2\t1\t1\n3\t2\t5\n3\t3\t3\n")
    ds = data_loaders.load("yahoo-r3", root=tmp_path)
    assert ds.interactions.shape == (3, 3)
    assert ds.splits["train"].nnz == 2  # ratings >= 4
    assert ds.splits["test"].nnz == 2
    assert ds.extras["test_candidates"].nnz == 4
    assert list(ds.interactions.user_vocab.raw) == [1, 2, 3]  # raw ids stay 1-based


def test_yahoo_requires_user_path_and_says_where_to_get_it() -> None:
    with pytest.raises(DatasetNotFoundError, match="webscope"):
        data_loaders.load("yahoo-r3")


def test_yahoo_rejects_bad_rating(tmp_path: Path) -> None:
    _yahoo_files(tmp_path, "1\t1\t7\n", "1\t1\t4\n")
    with pytest.raises(ValueError, match="1..5"):
        data_loaders.load("yahoo-r3", root=tmp_path)


def test_amazon_sports_parser_on_generated_file(tmp_path: Path) -> None:
    (tmp_path / "Sports_and_Outdoors.txt").write_text("1 1 2 3\n2 3 4\n")
    ds = data_loaders.load("amazon-sports", root=tmp_path)
    assert ds.interactions.shape == (2, 4) and ds.interactions.nnz == 5
    assert ds.items is None
    assert ds.unverified == ("Sports_and_Outdoors.txt",)


# --------------------------------------------------------------------------- download
def _zip_bytes(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def test_download_verifies_md5_then_extracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = _zip_bytes({"ml-100k/u.data": "1\t1\t5\t100\n1\t2\t3\t200\n2\t1\t4\t300\n"})
    monkeypatch.setitem(movielens.URLS, "ml-100k", ("https://example.invalid/ml-100k.zip",
                                                    hashlib.md5(payload).hexdigest()))

    def fake_fetch(url: str, dest: Path) -> None:
        dest.write_bytes(payload)

    movielens.download("ml-100k", tmp_path / "dl", fetch=fake_fetch)
    ds = data_loaders.load("ml-100k", root=tmp_path / "dl")
    assert ds.interactions.nnz == 3 and list(ds.extras["ratings"]) == [5, 3, 4]
    assert ds.unverified == ()  # u.data checked against the md5-verified zip kept next to it


def _grouplens_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    payload = _zip_bytes({"ml-100k/u.data": "1\t1\t5\t100\n1\t2\t3\t200\n2\t1\t4\t300\n"})
    monkeypatch.setitem(movielens.URLS, "ml-100k", ("https://example.invalid/ml-100k.zip",
                                                    hashlib.md5(payload).hexdigest()))
    return movielens.download("ml-100k", tmp_path / "dl", fetch=lambda url, dest: dest.write_bytes(payload))


def test_grouplens_file_differing_from_its_zip_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _grouplens_copy(tmp_path, monkeypatch)
    (root / "u.data").write_text("1\t1\t5\t100\n1\t2\t3\t200\n2\t1\t1\t300\n")
    with pytest.raises(ChecksumError, match="u.data"):
        data_loaders.load("ml-100k", root=root)


def test_grouplens_zip_with_wrong_md5_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _grouplens_copy(tmp_path, monkeypatch)
    with (root / "ml-100k.zip").open("ab") as f:
        f.write(b"x")
    with pytest.raises(ChecksumError, match="md5"):
        data_loaders.load("ml-100k", root=root)


def test_grouplens_file_without_its_zip_is_unverified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    root = _grouplens_copy(tmp_path, monkeypatch)
    (root / "ml-100k.zip").unlink()
    ds = data_loaders.load("ml-100k", root=root)
    assert ds.unverified == ("u.data",)
    assert "UNVERIFIED" in caplog.text and "u.data" in caplog.text
    row = next(r for r in data_loaders.status() if r.name == "ml-100k")
    assert row.verified  # the default root (recbole's copy) is unaffected


def test_download_refuses_wrong_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(movielens.URLS, "ml-1m", ("https://example.invalid/ml-1m.zip", "0" * 32))
    with pytest.raises(ValueError, match="md5"):
        movielens.download("ml-1m", tmp_path, fetch=lambda url, dest: dest.write_bytes(b"not a zip"))
    assert not (tmp_path / "ml-1m.zip").exists()


def test_download_only_for_movielens() -> None:
    with pytest.raises(ValueError, match="only available"):
        data_loaders.load("coat", download=True)


def test_status_reports_every_dataset() -> None:
    rows = {r.name: r for r in data_loaders.status()}
    assert set(rows) == set(data_loaders.names())
    assert rows["ml-100k"].available and rows["ml-100k"].verified
    assert not rows["yahoo-r3"].available
