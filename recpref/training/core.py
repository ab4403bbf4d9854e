"""`fit`: the one training entry. (model config, training config, data) -> trained encoder.

Each training family is a config type plus a function registered in `FAMILIES`; a new family
(multi-interest, LLM, ...) adds its config, its module and one entry here. `Recommender`,
the benchmark runners and the CLI all train through `fit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from recpref.data import Interactions, Split
from recpref.models import MF, Encoder, HistoryModel
from recpref.training.best import BestState, check_finite_training
from recpref.training.config import AnyModelConfig, ALSConfig, MNARConfig, ModelConfig, PairwiseConfig, TrainConfig
from recpref.training.sequence_config import SequenceConfig, SequenceModelConfig
from recpref.training.encoders import build_encoder
from recpref.training.allocator import keep_freed_memory
from recpref.training.engine import Engine, choose_engine, on_cpu

__all__ = ["FAMILIES", "FitResult", "fit"]


@dataclass
class FitResult:
    """A trained encoder (on the CPU, in eval mode), the per-epoch history (``epoch``,
    ``train/loss`` and the validation metrics when validating), the engine that trained it and
    the epoch whose weights were kept (the last one without validation)."""

    encoder: Encoder
    engine: Engine
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None


@dataclass(frozen=True)
class FitInputs:
    """What a family's fit receives besides the configs."""

    train: Interactions
    valid: Interactions | None
    propensity: np.ndarray | None
    exposure: Interactions | None
    accelerator: str
    devices: int | str
    strategy: str
    progress: bool
    valid_history: Interactions | None = None


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's RNGs for model init and dropout inside the fit only: the caller's global RNG
    state is restored afterwards (library code leaves global seeds alone)."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def fit(model: AnyModelConfig, config: TrainConfig, train: Interactions, valid: Interactions | None = None, *,
        propensity: np.ndarray | None = None, exposure: Interactions | None = None, accelerator: str = "auto",
        devices: int | str = "auto", strategy: str = "auto", progress: bool = False,
        valid_history: Interactions | None = None) -> FitResult:
    """Train the encoder ``model`` describes on ``train`` with ``config``'s family.

    With ``valid`` (same id space) every epoch is scored on it and the best epoch's weights are
    kept, stopping after ``config.patience`` epochs without gain. On the CPU, with
    ``RECPREF_KEEP_FREED_MEMORY=1``, it first raises glibc's allocator thresholds once per process
    (`recpref.training.allocator.keep_freed_memory`; off by default). ``propensity``/``exposure``
    belong to the MNAR family (see `MNARConfig`). A sequence model (`SequenceModelConfig`, trained
    with `SequenceConfig`) reads ``train`` in time order (its timestamps) and is returned as a
    `HistoryModel` holding each user's last ``max_len`` training items; ``valid`` then holds the
    targets that follow each user's training sequence. For splits whose validation users are not
    training users (ComiRec's strong generalisation, `recpref.data.comirec_split`),
    ``valid_history`` (sequence models only; same id space, timestamps) gives those users' input
    histories: validation ranks from them, and the returned model stores them as those users'
    histories; a user in it with training events is refused. A fit whose loss or weights become
    NaN/inf raises ``FloatingPointError`` naming ``lr``.
    """
    if train.nnz == 0:
        raise ValueError("train has no interactions; nothing to learn from")
    if valid is not None and valid.shape != train.shape:
        raise ValueError(f"valid has shape {valid.shape} but train has {train.shape}; use one id space")
    if isinstance(model, SequenceModelConfig) != isinstance(config, SequenceConfig):
        raise ValueError(f"sequence models train with SequenceConfig and it trains sequence models only; got "
                         f"{type(model).__name__}(model={model.model!r}) with {type(config).__name__}")
    if valid_history is not None:
        if not isinstance(config, SequenceConfig):
            raise ValueError("valid_history applies to the sequence models (their validation users' input "
                             f"histories), not {type(config).__name__}")
        if valid is None:
            raise ValueError("valid_history is given without valid: give the validation targets too")
        if valid_history.shape != train.shape:
            raise ValueError(f"valid_history has shape {valid_history.shape} but train has {train.shape}; "
                             "use one id space")
    family = FAMILIES.get(type(config))
    if family is None:
        raise TypeError(f"no training family for {type(config).__name__}; known: {[c.__name__ for c in FAMILIES]}")
    inputs = FitInputs(train, valid, propensity, exposure, accelerator, devices, strategy, progress, valid_history)
    if on_cpu(accelerator):
        keep_freed_memory()  # only with RECPREF_KEEP_FREED_MEMORY=1: see recpref.training.allocator
    with _seeded(config.seed):
        encoder = build_encoder(model, train)
        result = family(encoder, model, config, inputs)
    result.encoder = result.encoder.cpu().eval()
    return result


def _fit_pairwise(encoder: Encoder, model: ModelConfig, cfg: Any, x: FitInputs) -> FitResult:
    assert isinstance(cfg, PairwiseConfig)
    if x.propensity is not None or x.exposure is not None:
        raise ValueError(f"propensity/exposure apply to the MNAR losses, not loss {cfg.loss!r}")
    engine = choose_engine(model, cfg, accelerator=x.accelerator, devices=x.devices)
    if engine == "fused":
        assert isinstance(encoder, MF)
        return _fit_fused(encoder, cfg, x)
    from recpref.modules import PreferenceDataModule, PreferenceModule

    from recpref.modules.objectives import LossSettings
    from recpref.sampling.batches import proposal_log_prob

    log_q = proposal_log_prob(x.train, cfg.negatives) if cfg.loss == "ssm" and cfg.negatives != "uniform" else None
    settings = LossSettings(temperature=cfg.temperature, margin=cfg.margin, negative_weight=cfg.negative_weight,
                            gamma=cfg.gamma, item_log_q=log_q)
    split = Split(train=x.train, test=x.valid if x.valid is not None else x.train, allow_overlap=x.valid is None)
    dm = PreferenceDataModule(split, batch_size=cfg.batch_size, n_neg=cfg.n_neg, negatives=cfg.negatives,
                              stream=cfg.stream, seed=cfg.seed, neg_pool=cfg.neg_pool, mask_pool=cfg.mask_pool)
    module = PreferenceModule(encoder, loss=cfg.loss, lr=cfg.lr, reg=cfg.reg, optimizer=cfg.optimizer,
                              flip_dim=cfg.flip_dim, reg_flip=cfg.reg_flip, loss_settings=settings,
                              neg_pool=cfg.neg_pool, lr_schedule=cfg.lr_schedule,
                              total_steps=cfg.epochs * dm.steps if cfg.lr_schedule == "linear" else None,
                              eval_train=x.train if x.valid is not None else None, eval_target=x.valid,
                              eval_k=(cfg.monitor_k,))
    return _run_lightning(module, dm, encoder, cfg, x, f"val/{cfg.monitor}@{cfg.monitor_k}", "lightning")


def _fit_mnar(encoder: Encoder, model: ModelConfig, cfg: Any, x: FitInputs) -> FitResult:
    assert isinstance(cfg, MNARConfig) and isinstance(encoder, MF)
    from recpref.modules import MNARDataModule, MNARModule, click_rate_among_exposed

    extra: dict[str, Any] = {}
    if cfg.loss == "dr":
        if x.exposure is None:
            raise ValueError("loss 'dr' needs exposure= (the cells that were shown, e.g. every rated cell)")
        extra = {"exposure": x.exposure, "imputed": click_rate_among_exposed(x.train, x.exposure)}
    elif x.exposure is not None:
        raise ValueError(f"exposure applies to loss 'dr' only, not {cfg.loss!r}")
    module = MNARModule(encoder, cfg.loss, x.propensity, clip=cfg.clip, local=cfg.local, lr=cfg.lr, reg=cfg.reg,
                        nonneg=cfg.nonneg, negative_weight=cfg.negative_weight,
                        eval_train=x.train if x.valid is not None else None, eval_target=x.valid,
                        eval_propensity=x.propensity, eval_k=cfg.monitor_k, **extra)
    steps = cfg.steps_per_epoch or math.ceil(x.train.nnz / cfg.batch_size)
    dm = MNARDataModule(x.train, cfg.loss, batch_size=cfg.batch_size, steps_per_epoch=steps, seed=cfg.seed)
    # held-out clicks are MNAR too: select on SNIPS-DCG (1/theta-weighted) when propensities exist
    monitor = f"val/{'snips_dcg' if x.propensity is not None else 'dcg'}@{cfg.monitor_k}"
    return _run_lightning(module, dm, encoder, cfg, x, monitor, "lightning", devices=1)


def _run_lightning(module: Any, dm: Any, encoder: Encoder, cfg: PairwiseConfig | MNARConfig | SequenceConfig,
                   x: FitInputs, monitor: str,
                   engine: Engine, devices: int | str | None = None) -> FitResult:
    from recpref.training.callbacks import BestWeights, HistoryLogger
    from recpref.training.lightning_engine import make_trainer, run_fit

    history: list[dict[str, float]] = []
    callbacks: list[Any] = [HistoryLogger(history, cfg.lr)]
    best = BestWeights(monitor, patience=cfg.patience) if x.valid is not None else None
    if best is not None:
        callbacks.append(best)
    trainer = make_trainer(max_epochs=cfg.epochs, accelerator=x.accelerator,
                           devices=x.devices if devices is None else devices, strategy=x.strategy,
                           progress=x.progress, validate=x.valid is not None, callbacks=callbacks)
    run_fit(trainer, module, dm)
    best_epoch = best.best_epoch if best is not None else len(history) - 1
    return FitResult(encoder, engine, history, best_epoch)


def _fit_fused(encoder: MF, cfg: PairwiseConfig, x: FitInputs) -> FitResult:
    from tqdm.auto import tqdm

    from recpref.evaluation import evaluate
    from recpref.training.fused import FusedMFTrainer

    history: list[dict[str, float]] = []
    best = BestState(cfg.patience)
    bar = tqdm(total=cfg.epochs, desc="fused MF", unit="epoch", disable=not x.progress)

    def on_epoch_end(epoch: int, loss: float) -> bool:
        row = {"epoch": float(epoch), "train/loss": loss}
        check_finite_training(epoch, loss, encoder, cfg.lr)
        stop = False
        if x.valid is not None:
            res = evaluate(encoder.score_all, x.train, x.valid, k=(cfg.monitor_k,), metrics=("recall", "ndcg", "f1"))
            row.update({f"val/{name}": float(v) for name, v in res.metrics.items()})
            stop = best.update(res[f"{cfg.monitor}@{cfg.monitor_k}"], epoch, encoder)
        history.append(row)
        bar.update(1)
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k != "epoch"})
        return stop

    try:
        with torch.no_grad():
            FusedMFTrainer(encoder, cfg.loss, lr=cfg.lr, reg=cfg.reg).fit(  # type: ignore[arg-type]
                x.train, epochs=cfg.epochs, batch_size=cfg.batch_size, n_neg=cfg.n_neg, negatives=cfg.negatives,
                stream=cfg.stream, seed=cfg.seed, on_epoch_end=on_epoch_end)
    finally:
        bar.close()
    best.restore(encoder)
    return FitResult(encoder, "fused", history, best.best_epoch if x.valid is not None else len(history) - 1)


def _fit_als(encoder: Encoder, model: ModelConfig, cfg: Any, x: FitInputs) -> FitResult:
    """implicit's ALS solver; its factors become the MF's tables. With ``valid`` the fitted model
    is scored once (ALS has no epochs to select between)."""
    assert isinstance(cfg, ALSConfig) and isinstance(encoder, MF)
    if x.propensity is not None or x.exposure is not None:
        raise ValueError("propensity/exposure apply to the MNAR losses, not loss 'als'")
    if x.accelerator not in ("auto", "cpu") or x.devices not in ("auto", 1):
        raise ValueError(f"loss 'als' trains on one CPU (implicit's solver); got accelerator {x.accelerator!r}, "
                         f"devices {x.devices!r}")
    from recpref.training.als import train_als

    user, item = train_als(x.train, factors=model.dim, reg=cfg.reg, alpha=cfg.alpha, iterations=cfg.epochs,
                           seed=cfg.seed, threads=cfg.threads)
    with torch.no_grad():
        encoder.user_emb.weight.copy_(torch.from_numpy(user))
        encoder.item_emb.weight.copy_(torch.from_numpy(item))
    row: dict[str, float] = {"epoch": float(cfg.epochs - 1)}
    if x.valid is not None:
        from recpref.evaluation import evaluate

        res = evaluate(encoder.score_all, x.train, x.valid, k=(20,), metrics=("recall", "ndcg"))
        row.update({f"val/{name}": float(v) for name, v in res.metrics.items()})
    if not (np.isfinite(user).all() and np.isfinite(item).all()):
        raise FloatingPointError("ALS produced non-finite factors; raise reg or lower alpha")
    return FitResult(encoder, "implicit-als", [row], cfg.epochs - 1)


def _fit_sequence(encoder: Encoder, model: Any, cfg: Any, x: FitInputs) -> FitResult:
    """The sequence family: ComiRec samples from ``train``'s time-ordered sequences, sampled or
    full softmax (`recpref.modules.sequence`); validation ranks from each user's training
    history (``valid`` = the held-out items that follow it, e.g. leave-one-out's second-to-last),
    or, for users in ``valid_history``, from that history."""
    assert isinstance(cfg, SequenceConfig) and isinstance(model, SequenceModelConfig)
    assert isinstance(encoder, HistoryModel)
    if x.propensity is not None or x.exposure is not None:
        raise ValueError(f"propensity/exposure apply to the MNAR losses, not the sequence model {model.model!r}")
    if x.train.timestamps is None:
        raise ValueError("the sequence models read each user's interactions in time order, but train has no "
                         "timestamps; build it with timestamps= (e.g. each event's position in its user's sequence)")
    from recpref.data import Sequences
    from recpref.modules.sequence import SequenceDataModule, SequenceModule, evaluation_mask
    from recpref.sampling.sequence_batches import default_steps

    seqs = Sequences.from_interactions(x.train)  # ties by input position (recpref.data.sequences)
    window = seqs.padded(None, model.max_len)
    items, mask, seen = window.items, window.mask, x.train
    if x.valid_history is not None:  # held-out validation users (comirec_split): their own input histories
        held = Sequences.from_interactions(x.valid_history)
        users = np.flatnonzero(held.lengths > 0)
        both = users[seqs.lengths[users] > 0]
        if both.size:
            raise ValueError(f"valid_history: {both.size} of its users have training events too (e.g. user "
                             f"{x.train.user_vocab.raw[both[0]]!r}); it is for validation users outside train "
                             "(ComiRec's split); leave-one-out validates from the training sequences themselves")
        held_window = held.padded(None, model.max_len)
        u = torch.from_numpy(users)
        items, mask = items.clone(), mask.clone()
        items[u], mask[u] = held_window.items[u], held_window.mask[u]
        seen = Interactions.from_csr(x.train.matrix + x.valid_history.matrix, user_vocab=x.train.user_vocab,
                                     item_vocab=x.train.item_vocab)
    encoder.set_histories(items, mask)
    steps = cfg.steps_per_epoch or default_steps(seqs, cfg.min_history, cfg.batch_size)
    dm = SequenceDataModule(seqs, x.train, max_len=model.max_len, batch_size=cfg.batch_size, steps_per_epoch=steps,
                            min_history=cfg.min_history, seed=cfg.seed, loss=cfg.loss, n_neg=cfg.pool_size,
                            negatives=cfg.proposal)
    module = SequenceModule(encoder, loss=cfg.loss, lr=cfg.lr, temperature=cfg.temperature,
                            eval_mask=None if x.valid is None else evaluation_mask(seen, cfg.mask_history),
                            eval_target=x.valid, eval_k=cfg.monitor_k)
    return _run_lightning(module, dm, encoder, cfg, x, f"val/{cfg.monitor}@{cfg.monitor_k}", "lightning", devices=1)


FAMILIES: dict[type, Callable[[Encoder, Any, Any, FitInputs], FitResult]] = {
    PairwiseConfig: _fit_pairwise,
    MNARConfig: _fit_mnar,
    ALSConfig: _fit_als,
    SequenceConfig: _fit_sequence,
}
"""Training families keyed by their config type."""
