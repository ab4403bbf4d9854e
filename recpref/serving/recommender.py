"""`Recommender`: fit on interactions, recommend on raw ids, save/load without pickles.

A saved recommender is a directory with ``model.safetensors`` (weights + the training CSR used
to exclude seen items) and ``config.json`` (hyperparameters and the raw-id vocabularies).
Loading never unpickles anything.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import torch

from recpref.data import Interactions, Vocabulary
from recpref.evaluation import canonical_topk
from recpref.models import MF, NGCF, Encoder, LightGCN

ModelName = Literal["mf", "lightgcn", "ngcf"]
MNAR_LOSSES = ("naive", "relmf", "snips", "dr", "wmf", "ubpr")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class RecommenderConfig:
    """Every setting of a `Recommender` (all JSON-serialisable)."""

    model: ModelName = "mf"
    loss: Literal["bpr", "bpo", "nbpo", "nbpo_exact", "naive", "relmf", "snips", "dr", "wmf", "ubpr"] = "bpr"
    dim: int = 64
    n_layers: int = 3
    message_dropout: float = 0.1
    init: Literal["normal", "xavier"] = "xavier"
    epochs: int = 100
    batch_size: int = 2048
    lr: float = 1e-3
    reg: float = 1e-4
    optimizer: Literal["adam", "sgd", "adagrad"] = "adam"
    n_neg: int = 1
    negatives: Literal["uniform", "popularity"] = "uniform"
    stream: Literal["interactions", "users", "shuffle"] = "shuffle"
    flip_dim: int = 50
    reg_flip: float = 1e-4
    patience: int | None = None
    monitor: Literal["recall", "ndcg", "f1"] = "recall"
    monitor_k: int = 20
    seed: int = 0
    engine: Literal["auto", "lightning", "fused"] = "auto"
    # MNAR losses (naive/relmf/snips/dr/wmf/ubpr; see recpref.modules.MNARModule)
    clip: float | None = None
    local: Literal["log", "squared"] = "log"
    nonneg: float | None = None
    negative_weight: float = 1.0
    steps_per_epoch: int | None = None

    @property
    def mnar(self) -> bool:
        """Whether the loss learns from MNAR clicks with propensities (`MNARModule`)."""
        return self.loss in MNAR_LOSSES

    def __post_init__(self) -> None:
        if self.model not in ("mf", "lightgcn", "ngcf"):
            raise ValueError(f"model must be mf, lightgcn or ngcf; got {self.model!r}")
        for name in ("dim", "epochs", "batch_size", "n_neg", "monitor_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.monitor not in ("recall", "ndcg", "f1"):
            raise ValueError(f"monitor must be recall, ndcg or f1; got {self.monitor!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")
        if self.engine not in ("auto", "lightning", "fused"):
            raise ValueError(f"engine must be auto, lightning or fused; got {self.engine!r}")
        if self.mnar and self.model != "mf":
            raise ValueError(f"loss {self.loss!r} trains MF only, got model {self.model!r}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1 or None, got {self.steps_per_epoch}")
        if self.engine == "fused" and not self.fused_capable:
            raise ValueError("engine='fused' trains MF with BPR or BPO and Adam only; use engine='lightning'")

    @property
    def fused_capable(self) -> bool:
        """Whether the fused CPU kernel implements these settings (MF, BPR/BPO, Adam)."""
        return self.model == "mf" and self.loss in ("bpr", "bpo") and self.optimizer == "adam"


def _build_encoder(cfg: RecommenderConfig, train: Interactions) -> Encoder:
    if cfg.model == "mf":
        return MF(train.n_users, train.n_items, cfg.dim, init=cfg.init)
    if cfg.model == "lightgcn":
        return LightGCN(train, dim=cfg.dim, n_layers=cfg.n_layers)
    return NGCF(train, dim=cfg.dim, n_layers=cfg.n_layers, message_dropout=cfg.message_dropout)


def _quiet_fit(trainer: Any, module: Any, datamodule: Any) -> None:
    with warnings.catch_warnings():
        # Lightning's generic notes that do not apply: our IterableDatasets' __len__ is exact
        # (no worker processes), and a pytree deprecation of its own.
        warnings.filterwarnings("ignore", message=".*IterableDataset.*__len__.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        trainer.fit(module, datamodule=datamodule)


def _vocab_to_json(v: Vocabulary) -> dict[str, Any]:
    return {"type": "str" if v.is_str else "int", "ids": [str(x) if v.is_str else int(x) for x in v.raw]}


def _vocab_from_json(d: dict[str, Any]) -> Vocabulary:
    ids = d["ids"]
    return Vocabulary(np.array(ids, dtype=object) if d["type"] == "str" else np.array(ids, dtype=np.int64))


class Recommender:
    """Learns preferences from implicit feedback and recommends items for raw user ids.

    Example:
        >>> import data_loaders
        >>> from recpref.serving import Recommender
        >>> train = data_loaders.load("ml-100k").interactions
        >>> rec = Recommender(model="mf", loss="bpr", epochs=2).fit(train)
        >>> rec.recommend(["196", "186"], k=3).columns
        ['user_id', 'rank', 'item_id', 'score']
    """

    def __init__(self, config: RecommenderConfig | None = None, **overrides: Any) -> None:
        base = config or RecommenderConfig()
        unknown = set(overrides) - {f.name for f in fields(RecommenderConfig)}
        if unknown:
            raise TypeError(f"unknown setting(s) {sorted(unknown)}; see RecommenderConfig")
        self.config = RecommenderConfig(**{**asdict(base), **overrides})
        self.encoder: Encoder | None = None
        self.train: Interactions | None = None
        self.history: list[dict[str, float]] = []

    # --------------------------------------------------------------------- training
    def fit(self, train: Interactions, valid: Interactions | None = None, *, progress: bool = True,
            accelerator: str = "auto", devices: int | str = "auto", strategy: str = "auto",
            propensity: np.ndarray | None = None, exposure: Interactions | None = None) -> Recommender:
        """Train on ``train``. With ``valid`` (same id space), evaluate Recall@k/NDCG@k after every
        epoch, keep the best weights, and stop early after ``patience`` epochs without gain.

        ``engine="auto"`` trains MF with BPR/BPO and Adam on the CPU with the fused kernel
        (`FusedMFTrainer`: the same batches and updates, several times faster) and everything
        else, or anything on a GPU, through Lightning.

        MNAR losses (``naive``, ``relmf``, ``snips``, ``dr``, ``wmf``, ``ubpr``) treat ``train`` as
        biased clicks and take ``propensity`` ((n_items,) or (n_users, n_items), see
        `recpref.propensity`) and, for ``dr``, ``exposure`` (the shown cells); an epoch is
        ``steps_per_epoch`` batches (default ceil(clicks / batch_size)). With ``valid`` (held-out
        clicks, just as biased) they keep the epoch with the best SNIPS-DCG@``monitor_k`` (each
        held-out click weighted by 1/theta; plain DCG without propensities)."""
        import lightning.pytorch as pl_

        from recpref.data import Split
        from recpref.modules import PreferenceDataModule, PreferenceModule
        from recpref.serving.callbacks import BestWeights, HistoryLogger

        cfg = self.config
        pl_.seed_everything(cfg.seed, verbose=False)
        encoder = _build_encoder(cfg, train)
        if cfg.mnar:
            assert isinstance(encoder, MF)
            self._fit_mnar(encoder, train, valid, propensity, exposure, progress, accelerator)
            return self
        if propensity is not None or exposure is not None:
            raise ValueError(f"propensity/exposure apply to the MNAR losses {MNAR_LOSSES}, not {cfg.loss!r}")
        on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
        if cfg.engine == "fused" or (cfg.engine == "auto" and cfg.fused_capable and on_cpu and devices in ("auto", 1)):
            if not on_cpu:
                raise ValueError("engine='fused' runs on the CPU; pass accelerator='cpu' or engine='lightning'")
            assert isinstance(encoder, MF)
            self._fit_fused(encoder, train, valid, progress)
            return self
        module = PreferenceModule(encoder, loss=cfg.loss, lr=cfg.lr,  # type: ignore[arg-type]
                                  reg=cfg.reg, optimizer=cfg.optimizer,
                                  flip_dim=cfg.flip_dim, reg_flip=cfg.reg_flip,
                                  eval_train=train if valid is not None else None, eval_target=valid,
                                  eval_k=(cfg.monitor_k,))
        split = Split(train=train, test=valid if valid is not None else train, allow_overlap=valid is None)
        dm = PreferenceDataModule(split, batch_size=cfg.batch_size, n_neg=cfg.n_neg, negatives=cfg.negatives,
                                  stream=cfg.stream, seed=cfg.seed)
        callbacks: list[Any] = [HistoryLogger(self.history)]
        monitor = f"val/{cfg.monitor}@{cfg.monitor_k}"
        if valid is not None:
            callbacks.append(BestWeights(monitor, patience=cfg.patience))
        trainer = pl_.Trainer(
            max_epochs=cfg.epochs, accelerator=accelerator, devices=devices, strategy=strategy,
            logger=False, enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False,
            limit_val_batches=1 if valid is not None else 0, num_sanity_val_steps=0, callbacks=callbacks,
        )
        _quiet_fit(trainer, module, dm)
        self.encoder = encoder.cpu().eval()
        self.train = train
        return self

    def _fit_mnar(self, encoder: MF, train: Interactions, valid: Interactions | None, propensity: np.ndarray | None,
                  exposure: Interactions | None, progress: bool, accelerator: str) -> None:
        import lightning.pytorch as pl_

        from recpref.modules import MNARDataModule, MNARModule, click_rate_among_exposed

        cfg = self.config
        extra: dict[str, Any] = {}
        if cfg.loss == "dr":
            if exposure is None:
                raise ValueError("loss 'dr' needs exposure= (the cells that were shown, e.g. every rated cell)")
            extra = {"exposure": exposure, "imputed": click_rate_among_exposed(train, exposure)}
        # held-out clicks are MNAR too: select on SNIPS-DCG (1/theta-weighted) when propensities exist
        module = MNARModule(encoder, cfg.loss, propensity, clip=cfg.clip, local=cfg.local, lr=cfg.lr,  # type: ignore[arg-type]
                            reg=cfg.reg, nonneg=cfg.nonneg, negative_weight=cfg.negative_weight,
                            eval_train=train if valid is not None else None, eval_target=valid,
                            eval_propensity=propensity, eval_k=cfg.monitor_k, **extra)
        steps = cfg.steps_per_epoch or math.ceil(train.nnz / cfg.batch_size)
        dm = MNARDataModule(train, cfg.loss, batch_size=cfg.batch_size, steps_per_epoch=steps,  # type: ignore[arg-type]
                            seed=cfg.seed)
        from recpref.serving.callbacks import BestWeights, HistoryLogger

        callbacks: list[Any] = [HistoryLogger(self.history)]
        if valid is not None:
            monitor = f"val/{'snips_dcg' if propensity is not None else 'dcg'}@{cfg.monitor_k}"
            callbacks.append(BestWeights(monitor, patience=cfg.patience))
        trainer = pl_.Trainer(max_epochs=cfg.epochs, accelerator=accelerator, devices=1, logger=False,
                              enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False,
                              limit_val_batches=1 if valid is not None else 0, num_sanity_val_steps=0,
                              callbacks=callbacks)
        _quiet_fit(trainer, module, dm)
        self.encoder = encoder.cpu().eval()
        self.train = train

    def _fit_fused(self, encoder: MF, train: Interactions, valid: Interactions | None, progress: bool) -> None:
        from tqdm.auto import tqdm

        from recpref.evaluation import evaluate
        from recpref.modules import FusedMFTrainer
        from recpref.serving.callbacks import BestState

        cfg = self.config
        monitor = f"{cfg.monitor}@{cfg.monitor_k}"
        best = BestState(cfg.patience)
        bar = tqdm(total=cfg.epochs, desc="fused MF", unit="epoch", disable=not progress)

        def on_epoch_end(epoch: int, loss: float) -> bool:
            row = {"epoch": float(epoch), "train/loss": loss}
            stop = False
            if valid is not None:
                res = evaluate(encoder.score_all, train, valid, k=(cfg.monitor_k,),
                               metrics=("recall", "ndcg", "f1"))
                row.update({f"val/{name}": float(v) for name, v in res.metrics.items()})
                stop = best.update(res[monitor], epoch, encoder)
            self.history.append(row)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k != "epoch"})
            return stop

        with torch.no_grad():
            FusedMFTrainer(encoder, cfg.loss, lr=cfg.lr, reg=cfg.reg).fit(  # type: ignore[arg-type]
                train, epochs=cfg.epochs, batch_size=cfg.batch_size, n_neg=cfg.n_neg, negatives=cfg.negatives,
                stream=cfg.stream, seed=cfg.seed, on_epoch_end=on_epoch_end)
        bar.close()
        best.restore(encoder)
        self.encoder = encoder.eval()
        self.train = train

    # --------------------------------------------------------------------- scoring
    def _require_fitted(self) -> tuple[Encoder, Interactions]:
        if self.encoder is None or self.train is None:
            raise RuntimeError("this Recommender is not fitted; call fit(train) or Recommender.load(path)")
        return self.encoder, self.train

    @torch.no_grad()
    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """users (B,) contiguous indices -> (B, n_items) scores (the evaluator's scorer)."""
        encoder, _ = self._require_fitted()
        return encoder.score_all(users.cpu())

    def recommend(self, user_ids: Sequence[Any] | np.ndarray, k: int = 10, *, exclude_seen: bool = True) -> pl.DataFrame:
        """Top-``k`` items per raw user id: a polars DataFrame ``user_id, rank (1-based), item_id,
        score`` on raw ids, users in the order given. Items the user interacted with in training
        are left out when ``exclude_seen``; a user with fewer than k unseen items gets fewer rows."""
        encoder, train = self._require_fitted()
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if k > train.n_items:
            raise ValueError(f"k={k} exceeds the number of items ({train.n_items})")
        raw = np.asarray(list(user_ids) if not isinstance(user_ids, np.ndarray) else user_ids)
        if raw.ndim != 1 or raw.size == 0:
            raise ValueError("user_ids must be a non-empty 1-D sequence of raw user ids")
        try:
            users = train.user_vocab.index(raw, what="user")
        except KeyError as exc:
            raise KeyError(f"unknown user id(s): {exc.args[0]}") from None
        scores = self.score_all(torch.from_numpy(np.asarray(users, dtype=np.int64))).clone()
        if exclude_seen:
            for row, u in enumerate(users):
                scores[row, torch.from_numpy(train.items_of(int(u)).astype(np.int64))] = float("-inf")
        top = canonical_topk(scores, int(k))
        top_scores = torch.gather(scores, 1, top)
        keep = (top_scores > float("-inf")).numpy()
        ranks = np.broadcast_to(np.arange(1, top.shape[1] + 1), top.shape)
        return pl.DataFrame({
            "user_id": np.repeat(raw, top.shape[1]).reshape(top.shape)[keep],
            "rank": ranks[keep].astype(np.int32),
            "item_id": train.item_vocab.to_raw(top.numpy()[keep]),
            "score": top_scores.numpy()[keep].astype(np.float32),
        })

    # --------------------------------------------------------------------- persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into directory ``path``."""
        from safetensors.torch import save_file

        encoder, train = self._require_fitted()
        out = Path(path)
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
        out.mkdir(parents=True, exist_ok=True)
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
        tensors["train.indptr"] = torch.from_numpy(train.indptr.astype(np.int64))
        tensors["train.indices"] = torch.from_numpy(train.indices.astype(np.int64))
        save_file(tensors, str(out / "model.safetensors"))
        meta = {
            "format_version": FORMAT_VERSION,
            "config": asdict(self.config),
            "n_users": train.n_users,
            "n_items": train.n_items,
            "user_vocab": _vocab_to_json(train.user_vocab),
            "item_vocab": _vocab_to_json(train.item_vocab),
        }
        (out / "config.json").write_text(json.dumps(meta))
        return out

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Rebuild a saved recommender (no pickle: JSON + safetensors)."""
        from safetensors.torch import load_file

        src = Path(path)
        for name in ("config.json", "model.safetensors"):
            if not (src / name).is_file():
                raise FileNotFoundError(f"{src / name} not found: is {src} a directory written by Recommender.save?")
        meta = json.loads((src / "config.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{src}: format_version {meta.get('format_version')} is not {FORMAT_VERSION}")
        tensors = load_file(str(src / "model.safetensors"))
        indptr = tensors.pop("train.indptr").numpy()
        indices = tensors.pop("train.indices").numpy()
        rows = np.repeat(np.arange(meta["n_users"]), np.diff(indptr))
        train = Interactions.from_indices(rows, indices, n_users=meta["n_users"], n_items=meta["n_items"],
                                          user_vocab=_vocab_from_json(meta["user_vocab"]),
                                          item_vocab=_vocab_from_json(meta["item_vocab"]))
        rec = cls(RecommenderConfig(**meta["config"]))
        encoder = _build_encoder(rec.config, train)
        state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        encoder.load_state_dict(state, strict=True)
        rec.encoder, rec.train = encoder.eval(), train
        return rec
