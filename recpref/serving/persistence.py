"""Save and load a trained model as a directory of JSON + safetensors; never pickle.

On-disk format (``FORMAT_VERSION`` 2), a directory holding two files (plus optional companions such as ``metrics.json``, which loading ignores):

``model.safetensors``
    ``model.<name>`` for each entry of the model's ``state_dict``; the training interactions as
    ``train.indptr`` (n_users + 1,) int64 and ``train.indices`` (nnz,) int64 (canonical CSR: rows
    are users, indices sorted within a row) and, when they carry weights, ``train.weights`` (nnz,)
    float32. Header metadata: ``format_version`` ("2") and ``config_sha256``, the sha256 of
    config.json's canonical form (below) without its ``weights_sha256`` key.
``config.json``
    ``{"format_version": 2, "config": {...}, "n_users": int, "n_items": int,
    "user_vocab": {"type": "str" | "int", "ids": [...]}, "item_vocab": {...},
    "weights_sha256": "<sha256 of the bytes of model.safetensors>"}``. ``config`` holds the
    caller's JSON settings; ``ids[i]`` is the raw id of index ``i``. Canonical form:
    ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``.

The two hashes tie the files to each other: an edited config (a permuted vocabulary included),
edited or truncated weights, or files from two different saves fail to load with
`ModelFileError`, which names the file and the problem. Timestamps and input order of the
training interactions are not stored. Loading reads JSON and safetensors only, never a pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import safetensors.torch
import torch

from recpref.data import Interactions, Vocabulary

__all__ = ["FORMAT_VERSION", "Artifact", "ModelFileError", "load_artifact", "save_artifact"]

FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (2,)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
COMPANION_FILES = ("metrics.json",)  # written next to a model by `recpref train`; overwrite replaces it
_HEX = set("0123456789abcdef")


class ModelFileError(ValueError):
    """A saved model directory is missing, corrupted or inconsistent; the message names the path."""


@dataclass(frozen=True, eq=False)
class Artifact:
    """What a saved model holds.

    config: the caller's JSON-serialisable settings. tensors: the model's ``state_dict``.
    train: the training interactions (used to exclude seen items) with their raw-id vocabularies.
    """

    config: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    train: Interactions


def _canonical_sha256(meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "weights_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _vocab_to_json(v: Vocabulary) -> dict[str, Any]:
    return {"type": "str" if v.is_str else "int", "ids": [str(x) if v.is_str else int(x) for x in v.raw.tolist()]}


def save_artifact(path: str | Path, artifact: Artifact, *, overwrite: bool = False,
                  extra_files: dict[str, str] | None = None) -> Path:
    """Write ``artifact`` to the directory ``path`` and return it. ``extra_files`` (name -> text,
    e.g. ``metrics.json``) are written alongside in the same atomic swap; loading ignores them.

    A non-empty existing directory is refused unless ``overwrite=True``, which replaces a directory
    holding only a saved model's files (never one with other files in it). The files are written to
    a temporary sibling directory that is renamed into place, so a failed save leaves no directory
    that loads."""
    out = Path(path)
    if not isinstance(artifact, Artifact) or not isinstance(artifact.train, Interactions):
        raise TypeError(f"artifact must be an Artifact holding train: Interactions, got {type(artifact).__name__}")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory")
    existing = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if existing and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    extra = dict(extra_files or {})
    bad_names = [n for n in extra if not n or "/" in n or n.startswith(".") or n in (CONFIG_FILE, WEIGHTS_FILE)]
    if bad_names:
        raise ValueError(f"extra_files names must be plain file names other than the model's own; got {bad_names}")
    foreign = [n for n in existing if n not in (CONFIG_FILE, WEIGHTS_FILE, *COMPANION_FILES, *extra)]
    if foreign:
        raise FileExistsError(f"{out} holds files that are not a saved model ({', '.join(foreign[:5])}); "
                              "refusing to delete them even with overwrite=True")
    bad = [k for k, v in artifact.tensors.items() if not (isinstance(k, str) and k and isinstance(v, torch.Tensor))]
    if bad:
        raise TypeError(f"tensors must map non-empty names to torch.Tensor; bad entries: {bad[:5]}")
    train = artifact.train
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "config": artifact.config, "n_users": train.n_users,
        "n_items": train.n_items, "user_vocab": _vocab_to_json(train.user_vocab),
        "item_vocab": _vocab_to_json(train.item_vocab),
    }
    try:
        config_sha = _canonical_sha256(meta)
    except (TypeError, ValueError) as e:
        raise ValueError(f"config is not JSON-serialisable (finite numbers, str keys): {e}") from e
    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in artifact.tensors.items()}
    tensors["train.indptr"] = torch.from_numpy(train.indptr.astype(np.int64))
    tensors["train.indices"] = torch.from_numpy(train.indices.astype(np.int64))
    if train.has_weights:
        tensors["train.weights"] = torch.from_numpy(train.weights.astype(np.float32))
    data = safetensors.torch.save(tensors, metadata={"format_version": str(FORMAT_VERSION), "config_sha256": config_sha})
    meta["weights_sha256"] = hashlib.sha256(data).hexdigest()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / WEIGHTS_FILE).write_bytes(data)
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=1, allow_nan=False), encoding="utf-8")
        for name, text in extra.items():
            (tmp / name).write_text(text, encoding="utf-8")
        if existing:  # overwrite: move the old model aside, then swap in the new one
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)  # an empty directory at ``out`` is replaced too
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _fail(path: Path, problem: str) -> NoReturn:
    raise ModelFileError(f"{path}: {problem}")


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"duplicate key(s) {dup}")
    return dict(pairs)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicate_keys,
                          parse_constant=_no_constant)
    except (ValueError, OSError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        _fail(path, f"cannot be read as JSON: {e}")
    if not isinstance(meta, dict):
        _fail(path, f"must hold a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        _fail(path, f"format_version {version!r} is not supported (this recpref reads versions "
                    f"{', '.join(map(str, SUPPORTED_VERSIONS))}); was it written by another recpref version?")
    for key, kind in (("config", dict), ("n_users", int), ("n_items", int), ("user_vocab", dict),
                      ("item_vocab", dict), ("weights_sha256", str)):
        if key not in meta:
            _fail(path, f"missing key {key!r}")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            _fail(path, f"{key!r} must be {kind.__name__}, got {type(meta[key]).__name__}")
    if meta["n_users"] < 1 or meta["n_items"] < 1:
        _fail(path, f"n_users and n_items must be >= 1, got {meta['n_users']} and {meta['n_items']}")
    if len(meta["weights_sha256"]) != 64 or not set(meta["weights_sha256"]) <= _HEX:
        _fail(path, "'weights_sha256' must be 64 lowercase hex digits")
    return meta


def _vocab_from_json(path: Path, key: str, d: dict[str, Any], n: int) -> Vocabulary:
    kind, ids = d.get("type"), d.get("ids")
    if kind not in ("str", "int") or not isinstance(ids, list):
        _fail(path, f"{key} must be {{'type': 'str' or 'int', 'ids': [...]}}, got keys {sorted(d)}")
    elem = str if kind == "str" else int
    wrong = [x for x in ids if not isinstance(x, elem) or isinstance(x, bool)]
    if wrong:
        _fail(path, f"{key} has type {kind!r} but holds {len(wrong)} other value(s), e.g. {wrong[0]!r}")
    if kind == "int" and ids and not (-(2**63) <= min(ids) and max(ids) < 2**63):
        _fail(path, f"{key} holds ids outside the int64 range")
    if len(ids) != n:
        _fail(path, f"{key} has {len(ids)} ids but {'n_users' if key == 'user_vocab' else 'n_items'} is {n}")
    try:
        return Vocabulary(np.array(ids, dtype=object if kind == "str" else np.int64))
    except ValueError as e:
        _fail(path, f"{key}: {e}")


def _train_from_tensors(path: Path, t: dict[str, torch.Tensor], n_users: int, n_items: int,
                        user_vocab: Vocabulary, item_vocab: Vocabulary) -> Interactions:
    for name, dtype in (("train.indptr", torch.int64), ("train.indices", torch.int64)):
        if name not in t:
            _fail(path, f"tensor {name!r} is missing")
        if t[name].dtype != dtype or t[name].dim() != 1:
            _fail(path, f"tensor {name!r} must be 1-D {dtype}, got {t[name].dtype} of shape {tuple(t[name].shape)}")
    indptr, indices = t["train.indptr"].numpy(), t["train.indices"].numpy()
    if len(indptr) != n_users + 1 or indptr[0] != 0 or indptr[-1] != len(indices):
        _fail(path, f"train.indptr must have n_users + 1 = {n_users + 1} entries from 0 to "
                    f"len(train.indices) = {len(indices)}; got {len(indptr)} entries from {indptr[0]} to {indptr[-1]}")
    if (np.diff(indptr) < 0).any():
        _fail(path, "train.indptr is not non-decreasing")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        _fail(path, f"train.indices holds item indices outside [0, n_items={n_items})")
    weights = t.get("train.weights")
    if weights is not None and (weights.dtype != torch.float32 or tuple(weights.shape) != (len(indices),)):
        _fail(path, f"tensor 'train.weights' must be float32 of shape ({len(indices)},)")
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(indptr))
    try:
        return Interactions.from_indices(rows, indices, n_users=n_users, n_items=n_items,
                                         weights=None if weights is None else weights.numpy(),
                                         user_vocab=user_vocab, item_vocab=item_vocab)
    except ValueError as e:
        _fail(path, f"the training interactions are invalid: {e}")


def load_artifact(path: str | Path) -> Artifact:
    """Read a directory written by `save_artifact`, checking every file; never unpickles.

    Raises `ModelFileError` (a ``ValueError``) naming the file and the problem when the directory
    is missing, a file is missing or malformed, or the two files do not belong together."""
    src = Path(path)
    if not src.is_dir():
        _fail(src, "no such directory (expected a model saved by save_artifact / Recommender.save)")
    cfg_path, w_path = src / CONFIG_FILE, src / WEIGHTS_FILE
    for p in (cfg_path, w_path):
        if not p.is_file():
            _fail(p, f"file not found: is {src} a directory written by Recommender.save?")
    meta = _read_json(cfg_path)
    user_vocab = _vocab_from_json(cfg_path, "user_vocab", meta["user_vocab"], meta["n_users"])
    item_vocab = _vocab_from_json(cfg_path, "item_vocab", meta["item_vocab"], meta["n_items"])
    data = w_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["weights_sha256"]:
        _fail(w_path, f"sha256 differs from the weights_sha256 in {CONFIG_FILE}: the weights were edited "
                      "or truncated, or the two files come from different saves")
    try:
        tensors = safetensors.torch.load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len])
    except Exception as e:  # SafetensorError, bad dtypes, a header that is not JSON
        _fail(w_path, f"cannot be read as safetensors: {e}")
    stored = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    if stored.get("config_sha256") != _canonical_sha256(meta):
        _fail(cfg_path, f"content differs from the config_sha256 recorded in {WEIGHTS_FILE}: {CONFIG_FILE} was "
                        "edited (settings or vocabularies) or the two files come from different saves")
    train = _train_from_tensors(w_path, tensors, meta["n_users"], meta["n_items"], user_vocab, item_vocab)
    known = ("train.indptr", "train.indices", "train.weights")
    unknown = sorted(k for k in tensors if not k.startswith("model.") and k not in known)
    if unknown:
        _fail(w_path, f"unexpected tensor(s) {unknown[:5]}")
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return Artifact(config=meta["config"], tensors=model, train=train)
