"""Typed, validated settings: one config for the model and one per training family.

Every field is checked when the config is built, naming the field and the valid values. A
setting that belongs to another family (e.g. ``clip`` with ``loss="bpr"``) is refused by
`settings_from_flat` instead of being silently ignored; so is a setting of another kind of model
(e.g. ``max_len`` with ``model="mf"``). The sequence models' configs live in
`recpref.training.sequence_config`. All fields are JSON-serialisable; torch
is not imported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from recpref import catalog as cat
from recpref.catalog import check_choice, check_float, check_int
from recpref.training.sequence_config import SequenceConfig, SequenceModelConfig


@dataclass(frozen=True)
class ModelConfig:
    """Which encoder maps ids to scores: ``model`` (mf, lightgcn, ngcf), embedding ``dim``,
    propagation ``n_layers`` and ``message_dropout`` (graph models), ``init`` of MF tables."""

    model: cat.InteractionModelName = "mf"
    dim: int = 64
    n_layers: int = 3
    message_dropout: float = 0.1
    init: cat.InitName = "xavier"

    def __post_init__(self) -> None:
        check_choice("model", self.model, cat.INTERACTION_MODELS)
        check_int("dim", self.dim, 1)
        check_int("n_layers", self.n_layers, 0)
        check_float("message_dropout", self.message_dropout, low=0.0, high=1.0, high_open=True)
        check_choice("init", self.init, cat.INITS)


@dataclass(frozen=True)
class _FitSettings:
    epochs: int = 100
    batch_size: int = 2048
    lr: float = 1e-3
    reg: float = 1e-4
    seed: int = 0
    patience: int | None = None
    monitor_k: int = 20

    def _check_common(self) -> None:
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_float("reg", self.reg, low=0.0)
        check_int("seed", self.seed, 0)
        if self.patience is not None:
            check_int("patience", self.patience, 1)
        check_int("monitor_k", self.monitor_k, 1)


POOL_LOSSES = ("bpr", "ssm", "ccl")
"""Losses that train against a shared negative pool (``neg_pool``)."""


@dataclass(frozen=True)
class PairwiseConfig(_FitSettings):
    """Learning from sampled (user, positive, negatives) triples: BPR, BPO, NBPO (methods.md
    section 1), sampled softmax ``ssm``, SimpleX's cosine contrastive ``ccl`` and ``directau``
    (see `recpref.losses.softmax`). ``flip_dim``/``reg_flip`` size and regularise NBPO's
    flip-rate model; ``temperature`` belongs to ssm, ``margin``/``negative_weight`` to ccl,
    ``gamma`` to directau; each is refused with another loss. ``neg_pool`` M (bpr, ssm, ccl) draws
    one shared pool of M uniform items per step instead of ``n_neg`` per positive: scores (B, M)
    by one matmul; ``mask_pool`` leaves each user's own items in the pool out of the loss.
    ``optimizer`` ``lazy_adam`` (MF with ``neg_pool``): Adam on the rows each step touches only
    (`recpref.modules.optim.RowSparseAdam`), O(rows) per step instead of O(table).
    ``lr_schedule`` ``linear``: the learning rate falls linearly from ``lr`` to 0 over the fit's
    ``epochs`` (every optimiser step of them; early stopping may end the fit before it gets there).
    ``engine``: see
    `recpref.training.choose_engine`."""

    loss: cat.PairwiseLossName = "bpr"
    optimizer: cat.OptimizerName = "adam"
    lr_schedule: cat.LrScheduleName = "constant"
    n_neg: int = 1
    negatives: cat.NegativeKind = "uniform"
    stream: cat.PositiveStream = "shuffle"
    monitor: cat.MonitorName = "recall"
    engine: cat.EngineName = "auto"
    flip_dim: int = 50
    reg_flip: float = 1e-4
    neg_pool: int | None = None
    mask_pool: bool = True
    temperature: float = 1.0
    margin: float = 0.5  # RecBole's SimpleX.yaml (see recpref.losses.softmax.ccl_loss)
    negative_weight: float = 10.0
    gamma: float = 1.0

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, cat.PAIRWISE_LOSSES)
        self._check_common()
        check_choice("optimizer", self.optimizer, cat.OPTIMIZERS)
        check_choice("lr_schedule", self.lr_schedule, cat.LR_SCHEDULES)
        check_int("n_neg", self.n_neg, 1)
        check_choice("negatives", self.negatives, cat.NEGATIVES)
        check_choice("stream", self.stream, cat.STREAMS)
        check_choice("monitor", self.monitor, cat.MONITORS)
        check_choice("engine", self.engine, cat.ENGINES)
        check_int("flip_dim", self.flip_dim, 1)
        check_float("reg_flip", self.reg_flip, low=0.0)
        if not self.loss.startswith("nbpo") and (self.flip_dim, self.reg_flip) != (50, 1e-4):
            raise ValueError(f"flip_dim and reg_flip apply to the NBPO losses only, not loss {self.loss!r}")
        if self.neg_pool is not None:
            check_int("neg_pool", self.neg_pool, 1)
            if self.loss not in POOL_LOSSES:
                raise ValueError(f"neg_pool applies to loss {', '.join(POOL_LOSSES)}, not {self.loss!r}")
            if self.n_neg != 1:
                raise ValueError("n_neg and neg_pool exclude each other: a shared pool replaces per-positive negatives")
            if self.negatives != "uniform":
                raise ValueError("neg_pool draws uniform items; negatives 'popularity' applies to per-positive negatives")
        elif self.mask_pool is not True:
            raise ValueError("mask_pool applies with neg_pool only")
        if self.optimizer == "lazy_adam" and self.neg_pool is None:
            raise ValueError("optimizer 'lazy_adam' updates the rows a shared pool step touches: it needs neg_pool "
                             "(and model mf); use optimizer 'adam' with per-positive negatives")
        check_float("temperature", self.temperature, low=0.0, low_open=True)
        check_float("margin", self.margin, low=-1.0, high=1.0)
        check_float("negative_weight", self.negative_weight, low=0.0)
        check_float("gamma", self.gamma, low=0.0)
        for name, owner, default in (("temperature", "ssm", 1.0), ("margin", "ccl", 0.5),
                                     ("negative_weight", "ccl", 10.0), ("gamma", "directau", 1.0)):
            if getattr(self, name) != default and self.loss != owner:
                raise ValueError(f"{name} applies to loss {owner}, not {self.loss!r}")
        if self.engine == "fused" and not self.fused_capable:
            raise ValueError("engine 'fused' trains MF with loss bpr or bpo, optimizer adam and lr_schedule constant "
                             f"only; got loss {self.loss!r}, optimizer {self.optimizer!r}, lr_schedule "
                             f"{self.lr_schedule!r}; use engine 'lightning'")

    @property
    def fused_capable(self) -> bool:
        """Whether the fused CPU kernel implements this loss and optimiser (MF is checked by
        `recpref.training.choose_engine`)."""
        return (self.loss in ("bpr", "bpo") and self.optimizer == "adam" and self.neg_pool is None
                and self.lr_schedule == "constant")


@dataclass(frozen=True)
class MNARConfig(_FitSettings):
    """Learning from missing-not-at-random clicks with propensities (methods.md section 2).
    ``clip`` (Rel-MF's M), ``local`` loss, UBPR's ``nonneg`` (beta), WMF's ``negative_weight``;
    ``steps_per_epoch`` batches per epoch (default ceil(clicks / batch_size)). Early stopping
    keeps the epoch with the best SNIPS-DCG@``monitor_k`` on held-out clicks."""

    loss: cat.MNARLossName = "relmf"
    clip: float | None = None
    local: cat.LocalLossName = "log"
    nonneg: float | None = None
    negative_weight: float = 1.0
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, cat.MNAR_LOSSES)
        self._check_common()
        check_int("batch_size", self.batch_size, 2)
        if self.clip is not None:
            check_float("clip", self.clip, low=0.0, high=1.0, low_open=True)
        check_choice("local", self.local, cat.LOCAL_LOSSES)
        if self.nonneg is not None:
            check_float("nonneg", self.nonneg, low=0.0)
        check_float("negative_weight", self.negative_weight, low=0.0)
        if self.steps_per_epoch is not None:
            check_int("steps_per_epoch", self.steps_per_epoch, 1)
        owners = {"clip": ("relmf", "snips", "dr", "ubpr"), "nonneg": ("ubpr",)}
        for name, losses in owners.items():
            if getattr(self, name) is not None and self.loss not in losses:
                raise ValueError(f"{name} applies to loss {', '.join(losses)}, not {self.loss!r}")
        if self.negative_weight != 1.0 and self.loss != "wmf":
            raise ValueError(f"negative_weight applies to loss wmf, not {self.loss!r}")


@dataclass(frozen=True)
class ALSConfig:
    """Weighted MF (Hu, Koren & Volinsky, ICDM 2008) solved by alternating least squares with
    implicit's CPU solver: confidence C = 1 + ``alpha`` x R, L2 ``reg``, ``epochs`` ALS sweeps;
    the model's ``dim`` is the number of factors. ``threads`` 0 = all cores (implicit's own
    setting). The result is an `MF` like every other model, so recommend / evaluate / save / load
    treat it alike."""

    loss: cat.ALSLossName = "als"
    epochs: int = 15
    reg: float = 0.01
    alpha: float = 1.0
    seed: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, cat.ALS_LOSSES)
        check_int("epochs", self.epochs, 1)
        check_float("reg", self.reg, low=0.0)
        check_float("alpha", self.alpha, low=0.0)
        check_int("seed", self.seed, 0)
        check_int("threads", self.threads, 0)


TrainConfig = PairwiseConfig | MNARConfig | ALSConfig | SequenceConfig
"""The settings of one training family (the family is the config's type)."""

AnyModelConfig = ModelConfig | SequenceModelConfig
"""The settings of one model: an interaction model (mf, lightgcn, ngcf) or a sequence model."""

_FAMILIES: tuple[tuple[type[PairwiseConfig] | type[MNARConfig] | type[ALSConfig], tuple[str, ...], str], ...] = (
    (PairwiseConfig, cat.PAIRWISE_LOSSES, "pairwise losses"),
    (MNARConfig, cat.MNAR_LOSSES, "MNAR losses"),
    (ALSConfig, cat.ALS_LOSSES, "ALS loss"),
)

_GROUPS: tuple[tuple[type, str], ...] = (
    (ModelConfig, f"models {', '.join(cat.INTERACTION_MODELS)}"),
    *((cls, f"{what} {', '.join(losses)}") for cls, losses, what in _FAMILIES),
    (SequenceModelConfig, f"sequence models {', '.join(cat.SEQUENCE_MODELS)}"),
    (SequenceConfig, f"sequence models' training (loss {', '.join(cat.SEQUENCE_LOSSES)})"),
)
"""Every config type with how a message names what it belongs to (the refusal order)."""


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def is_sequence_model(model: Any) -> bool:
    """Whether ``model`` names a sequence model (trained by the sequence family)."""
    return isinstance(model, str) and model in cat.SEQUENCE_MODELS


def family_for(loss: str, model: str = "mf") -> type[TrainConfig]:
    """The training family (config type) that trains ``loss`` for ``model``: every sequence
    model trains with `SequenceConfig` (loss ssm or full); the others by their loss."""
    if is_sequence_model(model):
        if loss not in cat.SEQUENCE_LOSSES:
            raise ValueError(f"loss {loss!r} does not train the sequence models; model {model!r} trains with loss "
                             f"{' or '.join(cat.SEQUENCE_LOSSES)}")
        return SequenceConfig
    check_choice("loss", loss, cat.LOSSES)
    if loss in cat.SEQUENCE_LOSSES and loss not in cat.PAIRWISE_LOSSES:
        raise ValueError(f"loss {loss!r} trains the sequence models ({', '.join(cat.SEQUENCE_MODELS)}) only; "
                         f"got model {model!r}")
    if loss in cat.LLM_LOSSES:
        raise ValueError(f"loss {loss!r} trains the LLM recommender (model llm, recpref.llm.sprec.run_sprec) only; "
                         f"got model {model!r}")
    return next(cls for cls, losses, _ in _FAMILIES if loss in losses)


def default_loss(model: Any) -> str:
    """The loss used when none is given: ``ssm`` for the sequence models, ``bpr`` otherwise."""
    return "ssm" if is_sequence_model(model) else "bpr"


def _model_config(model: Any) -> type[AnyModelConfig]:
    if isinstance(model, str) and model in cat.LLM_MODELS:
        raise ValueError(f"model {model!r} is the LLM recommender: train it with recpref.llm.sprec.run_sprec or "
                         "`recpref train --model llm`, not through these settings")
    return SequenceModelConfig if is_sequence_model(model) else ModelConfig


def settings_keys(loss: str, model: str = "mf") -> set[str]:
    """The flat setting names that apply with ``loss`` and ``model``: the model's and its family's."""
    return _names(_model_config(model)) | _names(family_for(loss, model))


def settings_from_flat(**settings: Any) -> tuple[AnyModelConfig, TrainConfig]:
    """Route flat keyword settings (as `Recommender` and the CLI take them) to the model config
    and the training family chosen by ``model`` and ``loss`` (a sequence model: `SequenceConfig`;
    otherwise by the loss). A setting no config knows raises ``TypeError``; one that belongs to
    another model kind or family raises ``ValueError`` naming what uses it."""
    model_name = settings.get("model", "mf")
    loss = settings.get("loss", default_loss(model_name))
    family = family_for(loss, model_name)
    model_cls = _model_config(model_name)
    model_keys, own = _names(model_cls), _names(family)
    known = set().union(*(_names(cls) for cls, _ in _GROUPS))
    unknown = set(settings) - known
    if unknown:
        raise TypeError(f"unknown setting(s) {sorted(unknown)}; valid: {sorted(known)}")
    foreign = sorted(k for k in set(settings) - model_keys - own)
    if foreign:
        kinds = [what for cls, what in _GROUPS if cls not in (model_cls, family) and set(foreign) & _names(cls)]
        subject = f"model {model_name!r}" if model_cls is SequenceModelConfig else f"loss {loss!r}"
        raise ValueError(f"setting(s) {foreign} apply to the {' or '.join(kinds)}, not {subject}")
    model = model_cls(**{k: v for k, v in settings.items() if k in model_keys})
    train = family(**{**{k: v for k, v in settings.items() if k in own}, "loss": loss})
    if isinstance(train, (MNARConfig, ALSConfig)) and model.model != "mf":
        raise ValueError(f"loss {loss!r} trains model mf only; got model {model.model!r}")
    if isinstance(train, PairwiseConfig) and train.optimizer == "lazy_adam" and model.model != "mf":
        raise ValueError(f"optimizer 'lazy_adam' trains model mf only (row-sparse gathers); got model {model.model!r}")
    return model, train


def flat_settings(model: AnyModelConfig, train: TrainConfig) -> dict[str, Any]:
    """The inverse of `settings_from_flat` (what the save format stores)."""
    return {**asdict(model), **asdict(train)}
