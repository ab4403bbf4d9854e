"""RecBole 1.2.1 BPR as a benchmark runner: trained on recpref's exact training set, scored
by recpref's evaluator. recbole is imported lazily, only here, only inside `fit`.

RecBole 1.2.1 predates this stack; the shims below are the smallest that make it run and are
applied inside `fit` only:
- numpy 2 removed ``np.float_``, ``np.complex_`` and ``np.unicode_``, which recbole uses and which
  its ``Config.compatibility_settings`` reads while it also sets ``np.float``, ``np.int``... on the
  numpy module. We alias the three, and after `fit` remove every numpy attribute RecBole added,
  so the rest of the process sees an unmodified numpy.
- ``recbole.quick_start`` imports ``ray.tune`` -> ``pkg_resources`` (gone with setuptools >= 81):
  we never import quick_start; Config/create_dataset/data_preparation/BPR/Trainer directly.
- pandas 3 turns recbole's ``df[col].fillna(..., inplace=True)`` into a no-op; that code only
  fills *missing* token/float values, and the atomic file we write has none, so it is moot.
- torch >= 2.6 ``torch.load`` defaults to weights_only: we never save or reload a RecBole
  checkpoint (``saved=False``), so the final weights are the ones after the last epoch.

Global state RecBole touches is put back after `fit`: it logs through the *root* logger, so the
root level is raised to WARNING only while RecBole runs and then restored; its ``init_seed``
seeds Python's, numpy's and torch's global generators and sets cuDNN flags, which are saved
before and restored after.

Times: ``train_seconds`` is all of `fit` (writing RecBole's atomic files, building its dataset
and model, training); ``epoch_seconds`` is the time inside RecBole's training loop alone (the
sum of its ``Trainer._train_epoch`` calls: sampling negatives and the optimiser steps) divided
by the number of epochs; ``setup_seconds`` is the rest.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recpref.data import Interactions


@contextmanager
def _restored_global_state() -> Iterator[None]:
    """Put back the global RNG states, cuDNN flags and root logger level RecBole changes."""
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    cudnn = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # RecBole's INFO lines go to the root logger
    try:
        yield
    finally:
        root.setLevel(level)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = cudnn
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


@contextmanager
def _recbole_shims() -> Iterator[None]:
    """The numpy 2 aliases RecBole needs (removed again after, with every attribute RecBole
    added to numpy), its deprecation warnings silenced, ``sys.argv`` hidden from its Config."""
    before = set(vars(np))
    shims = {"float_": np.float64, "complex_": np.complex128, "unicode_": np.str_}
    for attr, value in shims.items():  # numpy 2 shim, see module docstring
        if attr not in before:
            setattr(np, attr, value)
    try:
        # RecBole's deprecation noise on this stack (torch.cuda.amp, pandas chained fillna on
        # columns that have no missing values) says nothing about this run.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # RecBole's Config also parses sys.argv ("--key=value"): hide the caller's argv so
            # our CLI flags (e.g. --seed) can never leak into RecBole's configuration.
            argv, sys.argv = sys.argv, sys.argv[:1]
            try:
                yield
            finally:
                sys.argv = argv
    finally:
        for attr in set(vars(np)) - before:
            delattr(np, attr)


@contextmanager
def _working_directory(path: str | Path) -> Iterator[None]:
    """chdir to ``path`` and back: RecBole writes log_tensorboard/ relative to the working directory."""
    cwd = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(cwd)


def _time_train_epochs(trainer: Any) -> list[float]:
    """Wrap ``trainer._train_epoch`` (RecBole's training steps of one epoch, no validation) so
    that the wall time of every call is appended to the returned list."""
    seconds: list[float] = []
    train_epoch = trainer._train_epoch

    def timed_epoch(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return train_epoch(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - t0)

    trainer._train_epoch = timed_epoch
    return seconds


class RecBoleBPR:
    """RecBole's BPR (MF + BPR loss, uniform negatives, Adam) for ``epochs`` epochs, no early
    stopping and no model selection (RecBole never sees validation or test data here)."""

    name = "RecBole BPR"
    tool = "recbole"

    def __init__(self, epochs: int = 100, batch_size: int = 2048, lr: float = 1e-3, dim: int = 64,
                 device: str = "cpu", show_progress: bool = False) -> None:
        self.epochs, self.batch_size, self.lr, self.dim = epochs, batch_size, lr, dim
        self.device, self.show_progress = device, show_progress
        self._user: torch.Tensor | None = None
        self._item: torch.Tensor | None = None
        self.train_seconds = float("nan")
        self.epoch_seconds = float("nan")  # inside RecBole's training loop only, per epoch
        self.setup_seconds = float("nan")  # the rest of fit: files, dataset, model

    def params(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "dim": self.dim,
                "device": self.device}

    def warmup(self) -> None:
        """Import RecBole's modules (one-time cost, not train time), under the same shims."""
        self._with_shims(lambda: None)

    def fit(self, train: Interactions, seed: int) -> None:
        with _restored_global_state():
            self._with_shims(lambda: self._fit(train, seed))

    def _with_shims(self, body: Callable[[], None]) -> None:
        with _recbole_shims():
            self._import_recbole()
            body()

    @staticmethod
    def _import_recbole() -> None:
        import recbole.config  # noqa: F401
        import recbole.data  # noqa: F401
        import recbole.model.general_recommender  # noqa: F401
        import recbole.trainer  # noqa: F401

    def _fit(self, train: Interactions, seed: int) -> None:
        from recbole.config import Config  # type: ignore[import-untyped]
        from recbole.data import create_dataset, data_preparation  # type: ignore[import-untyped]
        from recbole.model.general_recommender import BPR  # type: ignore[import-untyped]
        from recbole.trainer import Trainer  # type: ignore[import-untyped]
        from recbole.utils import init_seed  # type: ignore[import-untyped]

        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="recpref-recbole-") as tmp:
            data_dir = Path(tmp) / "data" / "recpref"
            data_dir.mkdir(parents=True)
            rows, cols = train.rows, train.indices
            lines = "".join(f"{u}\t{i}\n" for u, i in zip(rows.tolist(), cols.tolist()))
            header = "user_id:token\titem_id:token\n"
            (data_dir / "recpref.train.inter").write_text(header + lines)
            # RecBole insists on valid/test parts; one training pair each. Never used: no
            # evaluation, no early stopping, no model selection happens inside RecBole.
            first = f"{rows[0]}\t{cols[0]}\n"
            (data_dir / "recpref.valid.inter").write_text(header + first)
            (data_dir / "recpref.test.inter").write_text(header + first)
            config = Config(model="BPR", dataset="recpref", config_dict={
                "data_path": str(Path(tmp) / "data"),
                "benchmark_filename": ["train", "valid", "test"],
                "load_col": {"inter": ["user_id", "item_id"]},
                "user_inter_num_interval": "[0,inf)",
                "item_inter_num_interval": "[0,inf)",
                "embedding_size": self.dim,
                "train_batch_size": self.batch_size,
                "learning_rate": self.lr,
                "epochs": self.epochs,
                "seed": seed,
                "reproducibility": True,
                "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
                "eval_step": 0,
                # an empty gpu_id keeps RecBole's Config off CUDA for device "cpu" (with the default
                # '0' it picks a visible GPU whatever "device" says, and sets CUDA_VISIBLE_DEVICES)
                "gpu_id": "" if self.device == "cpu" else os.environ.get("CUDA_VISIBLE_DEVICES") or "0",
                "use_gpu": self.device != "cpu",
                "device": self.device,
                "checkpoint_dir": str(Path(tmp) / "saved"),
                "show_progress": self.show_progress,
                "state": "WARNING",
                "worker": 0,
            })
            config["device"] = torch.device(self.device)
            with _working_directory(tmp):
                init_seed(seed, True)
                dataset = create_dataset(config)
                train_data, _, _ = data_preparation(config, dataset)
                model = BPR(config, train_data.dataset).to(config["device"])
                trainer = Trainer(config, model)
                epoch_times = _time_train_epochs(trainer)
                trainer.fit(train_data, valid_data=None, saved=False, show_progress=self.show_progress,
                            verbose=False)
                self.epoch_seconds = sum(epoch_times) / max(self.epochs, 1)
                user_w = model.user_embedding.weight.detach().cpu()
                item_w = model.item_embedding.weight.detach().cpu()
                u_tok = dataset.field2token_id["user_id"]
                i_tok = dataset.field2token_id["item_id"]
        # recpref index -> RecBole internal id (0 is RecBole's padding id).
        u_map = torch.tensor([u_tok.get(str(u), 0) for u in range(train.n_users)])
        i_ids = [i_tok.get(str(i), 0) for i in range(train.n_items)]
        item_emb = item_w[torch.tensor(i_ids)].clone()
        # Items without a training interaction are unknown to RecBole; they keep a zero
        # embedding (score 0), which is what a never-updated item row means.
        item_emb[torch.tensor([t == 0 for t in i_ids])] = 0.0
        self._user = user_w[u_map].contiguous()
        self._item = item_emb.contiguous()
        self.train_seconds = time.perf_counter() - start
        self.setup_seconds = self.train_seconds - self.epoch_seconds * self.epochs

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        if self._user is None or self._item is None:
            raise RuntimeError("RecBoleBPR is not fitted; call fit(train, seed) first")
        return self._user[users.cpu()] @ self._item.T
