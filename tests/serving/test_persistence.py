from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from recpref.data import Interactions
from recpref.models import MF
from recpref.serving import persistence
from recpref.serving.persistence import FORMAT_VERSION, Artifact, ModelFileError, load_artifact, save_artifact

CFG = "config.json"
WTS = "model.safetensors"


def _train(str_ids: bool = True, weights: bool = False) -> Interactions:
    users, items = [0, 0, 1, 2, 2, 2], [1, 3, 0, 0, 2, 3]
    w = [1.0, 2.0, 0.5, 1.0, 3.0, 1.5] if weights else None
    if str_ids:
        return Interactions.from_raw([f"u{u}" for u in users], [f"i{i}" for i in items], weights=w)
    return Interactions.from_raw(np.asarray(users) * 7 + 100, np.asarray(items) - 5, weights=w)


def _artifact(str_ids: bool = True, weights: bool = False, seed: int = 0) -> Artifact:
    torch.manual_seed(seed)
    train = _train(str_ids, weights)
    mf = MF(train.n_users, train.n_items, dim=4)
    return Artifact(config={"model": "mf", "dim": 4, "lr": 0.001, "clip": None}, tensors=mf.state_dict(), train=train)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_artifact(tmp_path / "model", _artifact())


def _edit_config(d: Path, edit: Callable[[dict[str, Any]], Any]) -> None:
    meta = json.loads((d / CFG).read_text())
    edit(meta)
    (d / CFG).write_text(json.dumps(meta))


def _reseal_weights(d: Path) -> None:
    """Record the current model.safetensors' sha256 in config.json (as a deliberate forger would)."""
    digest = hashlib.sha256((d / WTS).read_bytes()).hexdigest()
    _edit_config(d, lambda m: m.__setitem__("weights_sha256", digest))


def _edit_tensors(d: Path, edit: Callable[[dict[str, torch.Tensor]], Any]) -> None:
    with safe_open(str(d / WTS), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    edit(tensors)
    save_file(tensors, str(d / WTS), metadata=meta)
    _reseal_weights(d)


def _load_fails(path: Path, *fragments: str) -> str:
    with pytest.raises(ModelFileError) as info:
        load_artifact(path.parent if path.name in (CFG, WTS) else path)
    msg = str(info.value)
    assert str(path) in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


# ------------------------------------------------------------------ round trip
@pytest.mark.parametrize("str_ids", [True, False])
@pytest.mark.parametrize("weights", [True, False])
def test_round_trip_keeps_config_tensors_interactions_and_vocabularies(tmp_path: Path, str_ids: bool,
                                                                       weights: bool) -> None:
    art = _artifact(str_ids, weights)
    out = save_artifact(tmp_path / "m", art)
    assert sorted(p.name for p in out.iterdir()) == [CFG, WTS]
    assert json.loads((out / CFG).read_text())["format_version"] == FORMAT_VERSION == 2
    back = load_artifact(out)
    assert back.config == art.config
    assert back.tensors.keys() == art.tensors.keys()
    assert all(torch.equal(back.tensors[k], v) for k, v in art.tensors.items())
    MF(art.train.n_users, art.train.n_items, dim=4).load_state_dict(back.tensors, strict=True)
    t, b = art.train, back.train
    assert b.user_vocab == t.user_vocab and b.item_vocab == t.item_vocab
    assert b.user_vocab.is_str == str_ids and (b.user_vocab.raw.dtype == np.int64) != str_ids
    assert np.array_equal(b.indptr, t.indptr) and np.array_equal(b.indices, t.indices)
    assert b.has_weights == weights and np.array_equal(b.weights, t.weights)
    assert b.user_vocab.index(np.array(["u2"] if str_ids else [114])).tolist() == [2]


def test_save_rejects_non_json_config_and_bad_tensors_before_writing(tmp_path: Path) -> None:
    art = _artifact()
    for config in ({"lr": float("nan")}, {"ids": {1, 2}}):
        with pytest.raises(ValueError, match="config is not JSON-serialisable"):
            save_artifact(tmp_path / "m", Artifact(config=config, tensors=art.tensors, train=art.train))
    with pytest.raises(TypeError, match="torch.Tensor"):
        save_artifact(tmp_path / "m", Artifact(config={}, tensors={"w": np.zeros(2)}, train=art.train))  # type: ignore[dict-item]
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ saving safely
def test_save_refuses_non_empty_directory_unless_overwrite(tmp_path: Path, saved: Path) -> None:
    other = _artifact(seed=1)
    with pytest.raises(FileExistsError, match=r"overwrite=True"):
        save_artifact(saved, other)
    save_artifact(saved, other, overwrite=True)
    assert torch.equal(load_artifact(saved).tensors["user_emb.weight"], other.tensors["user_emb.weight"])
    assert not torch.equal(other.tensors["user_emb.weight"], _artifact(seed=0).tensors["user_emb.weight"])
    (tmp_path / "empty").mkdir()
    save_artifact(tmp_path / "empty", other)  # an empty directory is fine
    load_artifact(tmp_path / "empty")


def test_overwrite_never_deletes_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="notes.txt"):
        save_artifact(tmp_path, _artifact(), overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    with pytest.raises(FileExistsError, match="not a directory"):
        save_artifact(tmp_path / "notes.txt", _artifact(), overwrite=True)


@pytest.mark.parametrize("overwrite", [False, True])
def test_failed_save_leaves_nothing_that_loads(tmp_path: Path, saved: Path, monkeypatch: pytest.MonkeyPatch,
                                               overwrite: bool) -> None:
    before = load_artifact(saved).tensors
    target = saved if overwrite else tmp_path / "new"
    real = Path.write_text

    def failing_write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        if self.name == CFG:  # the weights are already written at this point
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    with pytest.raises(OSError, match="disk full"):
        save_artifact(target, _artifact(seed=1), overwrite=overwrite)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary directory left
    after = load_artifact(saved).tensors  # the old model is intact
    assert all(torch.equal(after[k], v) for k, v in before.items())


# ------------------------------------------------------------------ never unpickles
class _SideEffect:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))  # unpickling creates the marker file


def test_payload_has_a_side_effect_when_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_SideEffect(marker))).close()  # noqa: S301 (our own payload)
    assert marker.exists()


def test_load_never_unpickles(tmp_path: Path, saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "unpickled"
    (saved / "model.pt").write_bytes(b"")
    torch.save({"x": _SideEffect(marker)}, saved / "model.pt")
    (saved / "extra.pkl").write_bytes(pickle.dumps(_SideEffect(marker)))

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("load_artifact unpickled something")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    assert load_artifact(saved).train.n_users == 3
    # a pickle (torch.save output) in place of the weights, its hash recorded: refused, not run
    torch.save({"model.w": _SideEffect(marker)}, saved / WTS)
    _reseal_weights(saved)
    _load_fails(saved / WTS, "cannot be read as safetensors")
    assert not marker.exists()


# ------------------------------------------------------------------ content hashes tie the files
def test_permuted_vocabulary_is_detected(saved: Path) -> None:
    _edit_config(saved, lambda m: m["item_vocab"]["ids"].reverse())
    _load_fails(saved / CFG, "config_sha256", "edited")


def test_edited_setting_is_detected(saved: Path) -> None:
    _edit_config(saved, lambda m: m["config"].__setitem__("lr", 0.01))
    _load_fails(saved / CFG, "config_sha256")


def test_edited_weights_are_detected(saved: Path) -> None:
    data = bytearray((saved / WTS).read_bytes())
    data[-1] ^= 0xFF
    (saved / WTS).write_bytes(bytes(data))
    _load_fails(saved / WTS, "sha256", "edited or truncated")


def test_truncated_weights_are_detected(saved: Path) -> None:
    (saved / WTS).write_bytes((saved / WTS).read_bytes()[:-10])
    _load_fails(saved / WTS, "sha256")


def test_files_from_two_saves_are_detected(tmp_path: Path, saved: Path) -> None:
    art = _artifact(seed=1)
    other = save_artifact(tmp_path / "other", Artifact(config={**art.config, "dim": 8}, tensors=art.tensors,
                                                       train=art.train))
    (saved / WTS).write_bytes((other / WTS).read_bytes())
    _load_fails(saved / WTS, "different saves")
    _reseal_weights(saved)  # even with the weights hash updated, the config hash disagrees
    _load_fails(saved / CFG, "config_sha256")


def test_the_forging_helper_alone_keeps_a_directory_loadable(saved: Path) -> None:
    """The corruption tests below reseal the weights hash so that they reach the structural checks;
    resealing an unchanged tensor set must load (the hashes tie the files; they are no signature)."""
    _edit_tensors(saved, lambda t: t["model.item_emb.weight"].zero_())
    assert torch.count_nonzero(load_artifact(saved).tensors["item_emb.weight"]) == 0


# ------------------------------------------------------------------ corrupted directories
def test_missing_directory_and_files(tmp_path: Path, saved: Path) -> None:
    _load_fails(tmp_path / "nope", "no such directory")
    (saved / WTS).unlink()
    _load_fails(saved / WTS, "file not found")
    (saved / CFG).unlink()
    _load_fails(saved / CFG, "file not found")


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "cannot be read as JSON"),
    ("[1, 2]", "must hold a JSON object, got list"),
    ('{"format_version": 2, "format_version": 2}', "duplicate key"),
    ('{"format_version": NaN}', "NaN is not valid JSON"),
    ("\udcff", "cannot be read as JSON"),
])
def test_unreadable_json(saved: Path, text: str, fragment: str) -> None:
    (saved / CFG).write_bytes(text.encode("utf-8", "surrogateescape"))
    _load_fails(saved / CFG, fragment)


@pytest.mark.parametrize("version", [1, 3, "2", None, True])
def test_unknown_format_version_names_supported_versions(saved: Path, version: Any) -> None:
    _edit_config(saved, lambda m: m.__setitem__("format_version", version))
    _load_fails(saved / CFG, f"format_version {version!r} is not supported", "reads versions 2")


@pytest.mark.parametrize("key", ["config", "n_users", "n_items", "user_vocab", "item_vocab", "weights_sha256"])
def test_missing_key(saved: Path, key: str) -> None:
    _edit_config(saved, lambda m: m.pop(key))
    _load_fails(saved / CFG, f"missing key {key!r}")


@pytest.mark.parametrize("key, value, fragment", [
    ("n_users", "3", "'n_users' must be int, got str"),
    ("n_items", True, "'n_items' must be int, got bool"),
    ("config", [1], "'config' must be dict, got list"),
    ("user_vocab", ["u0"], "'user_vocab' must be dict"),
    ("weights_sha256", "abc", "64 lowercase hex"),
    ("n_users", 0, "must be >= 1"),
])
def test_wrong_types(saved: Path, key: str, value: Any, fragment: str) -> None:
    _edit_config(saved, lambda m: m.__setitem__(key, value))
    _load_fails(saved / CFG, fragment)


@pytest.mark.parametrize("edit, fragment", [
    (lambda v: v.__setitem__("ids", v["ids"][:-1]), "item_vocab has 3 ids but n_items is 4"),
    (lambda v: v["ids"].__setitem__(1, v["ids"][0]), "duplicate raw id 'i0'"),
    (lambda v: v.__setitem__("type", "int"), "item_vocab has type 'int' but holds 4 other value(s)"),
    (lambda v: v.__setitem__("type", "float"), "item_vocab must be {'type': 'str' or 'int'"),
    (lambda v: v.pop("ids"), "item_vocab must be"),
])
def test_bad_vocabulary(saved: Path, edit: Callable[[dict[str, Any]], Any], fragment: str) -> None:
    _edit_config(saved, lambda m: edit(m["item_vocab"]))
    _load_fails(saved / CFG, fragment)


def test_int_vocabulary_outside_int64(tmp_path: Path) -> None:
    out = save_artifact(tmp_path / "m", _artifact(str_ids=False))
    _edit_config(out, lambda m: m["user_vocab"]["ids"].__setitem__(0, 2**70))
    _load_fails(out / CFG, "int64 range")


@pytest.mark.parametrize("data", [b"", b"garbage!garbage", b"\x08\x00\x00\x00\x00\x00\x00\x00{bad}...."])
def test_garbage_safetensors_with_matching_hash(saved: Path, data: bytes) -> None:
    (saved / WTS).write_bytes(data)
    _reseal_weights(saved)
    _load_fails(saved / WTS, "cannot be read as safetensors")


def test_truncated_safetensors_with_matching_hash(saved: Path) -> None:
    (saved / WTS).write_bytes((saved / WTS).read_bytes()[:-10])
    _reseal_weights(saved)
    _load_fails(saved / WTS, "cannot be read as safetensors")


def _set(name: str, value: torch.Tensor) -> Callable[[dict[str, torch.Tensor]], None]:
    return lambda t: t.__setitem__(name, value)


@pytest.mark.parametrize("edit, fragment", [
    (lambda t: t.pop("train.indptr"), "tensor 'train.indptr' is missing"),
    (lambda t: t.pop("train.indices"), "tensor 'train.indices' is missing"),
    (_set("train.indices", torch.tensor([1, 3, 0, 0, 2, 4])), "outside [0, n_items=4)"),
    (_set("train.indices", torch.tensor([1, 3, 0, 0, 2, -1])), "outside [0, n_items=4)"),
    (_set("train.indptr", torch.tensor([0, 4, 2, 6])), "not non-decreasing"),
    (_set("train.indptr", torch.tensor([0, 2, 6])), "n_users + 1 = 4 entries"),
    (_set("train.indptr", torch.tensor([1, 2, 3, 6])), "entries from 0"),
    (_set("train.indptr", torch.tensor([0, 2, 3, 5])), "len(train.indices) = 6"),
    (_set("train.indices", torch.tensor([1.0, 3, 0, 0, 2, 3])), "must be 1-D torch.int64"),
    (_set("train.indices", torch.tensor([1, 1, 0, 0, 2, 3])), "duplicate (user, item) pairs"),
    (_set("train.weights", torch.ones(5)), "'train.weights' must be float32 of shape (6,)"),
    (_set("train.timestamps", torch.ones(6)), "unexpected tensor(s) ['train.timestamps']"),
    (_set("optimizer.state", torch.ones(6)), "unexpected tensor(s) ['optimizer.state']"),
])
def test_bad_training_tensors(saved: Path, edit: Callable[[dict[str, torch.Tensor]], Any], fragment: str) -> None:
    _edit_tensors(saved, edit)
    _load_fails(saved / WTS, fragment)


def test_errors_are_value_errors_for_callers(saved: Path) -> None:
    (saved / CFG).write_text("{")
    with pytest.raises(ValueError):
        load_artifact(saved)
    assert issubclass(ModelFileError, ValueError) and persistence.SUPPORTED_VERSIONS == (2,)
