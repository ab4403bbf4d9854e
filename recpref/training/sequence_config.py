"""Typed settings of the sequence family: the sequence model's and its training's.

`SequenceModelConfig` picks and sizes a `recpref.models.SequenceEncoder` (MIND, ComiRec-DR,
ComiRec-SA, mean pooling, SASRec, HCN); `SequenceConfig` trains it on time-ordered interactions
(ComiRec's samples, sampled or full softmax). Model-specific settings default to ``None`` (the
model's own default, listed in `MODEL_DEFAULTS`); one given for a model it does not belong to is
refused, naming the models that use it. Everything is JSON-serialisable; torch is not imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recpref import catalog as cat
from recpref.catalog import check_choice, check_float, check_int

__all__ = ["MODEL_DEFAULTS", "SETTING_OWNERS", "SequenceConfig", "SequenceModelConfig"]

MULTI_INTEREST = ("mind", "comirec-dr", "comirec-sa", "hcn")

SETTING_OWNERS: dict[str, tuple[str, ...]] = {
    "n_interests": MULTI_INTEREST,
    "n_iterations": ("mind", "comirec-dr", "hcn"),
    "power": ("mind",),
    "attention_dim": ("comirec-sa",),
    "n_blocks": ("sasrec",),
    "n_heads": ("sasrec",),
    "dropout": ("sasrec",),
    "short_len": ("hcn",),
    "level1_interests": ("hcn",),
}
"""Each model-specific setting and the models that take it."""

MODEL_DEFAULTS: dict[str, Any] = {
    "n_interests": 4, "n_iterations": 3, "power": 1.0, "attention_dim": None, "n_blocks": 2, "n_heads": 1,
    "dropout": 0.2, "short_len": 20, "level1_interests": None,
}
"""What ``None`` means for each model-specific setting (``attention_dim`` None = 4 x dim,
``level1_interests`` None = 2 x n_interests)."""


@dataclass(frozen=True)
class SequenceModelConfig:
    """A sequence encoder (`recpref.models.sequential`, `recpref.models.multi_interest`,
    `recpref.models.hcn`): ``model`` (mind, comirec-dr, comirec-sa, mean, sasrec, hcn), embedding
    ``dim``, history window ``max_len`` (the last T items a user's interests are computed from);
    and, per model, ``n_interests`` K (the multi-interest models, default 4), ``n_iterations``
    (routing rounds of mind and comirec-dr, clustering rounds of hcn; default 3), MIND's
    label-aware attention ``power`` (default 1; finite: the save format is JSON, so the
    hard-argmax limit inf is out of reach here, use a large power), ComiRec-SA's
    ``attention_dim`` (default 4 x dim), SASRec's ``n_blocks`` (2), ``n_heads`` (1) and
    ``dropout`` (0.2), HCN's ``short_len`` (its short-term sequence: the last ``short_len`` items
    of the window, default 20) and ``level1_interests`` (level-1 clusters K1 >= K, default 2 K).
    ``mean`` is YouTube DNN style mean pooling with one dense layer; ``hcn`` is our
    re-interpretation of HCN (`recpref.models.hcn`)."""

    model: cat.SequenceModelName = "comirec-sa"
    dim: int = 64
    max_len: int = 50
    n_interests: int | None = None
    n_iterations: int | None = None
    power: float | None = None
    attention_dim: int | None = None
    n_blocks: int | None = None
    n_heads: int | None = None
    dropout: float | None = None
    short_len: int | None = None
    level1_interests: int | None = None

    def __post_init__(self) -> None:
        check_choice("model", self.model, cat.SEQUENCE_MODELS)
        check_int("dim", self.dim, 1)
        check_int("max_len", self.max_len, 1)
        for name in ("n_interests", "n_iterations", "attention_dim", "n_blocks", "n_heads", "short_len",
                     "level1_interests"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        if self.power is not None:
            check_float("power", self.power, low=0.0, low_open=True)
        if self.dropout is not None:
            check_float("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        for name, owners in SETTING_OWNERS.items():
            if getattr(self, name) is not None and self.model not in owners:
                raise ValueError(f"{name} applies to model {', '.join(owners)}, not {self.model!r}")
        if self.model == "sasrec" and self.dim % self.setting("n_heads"):
            raise ValueError(f"n_heads must divide dim = {self.dim}; got n_heads = {self.setting('n_heads')}")
        if self.level1_interests is not None and self.level1_interests < self.setting("n_interests"):
            raise ValueError(f"level1_interests must be an integer >= n_interests = {self.setting('n_interests')}; "
                             f"got {self.level1_interests}")

    def setting(self, name: str) -> Any:
        """A model-specific setting as given, else the model's default (`MODEL_DEFAULTS`)."""
        value = getattr(self, name)
        return MODEL_DEFAULTS[name] if value is None else value


@dataclass(frozen=True)
class SequenceConfig:
    """Training a sequence model on time-ordered interactions (methods.md section 3.1).

    A sample is ComiRec's (`recpref.data.SequenceSampler`): a user uniformly among those with
    more than ``min_history`` training events, a cut k uniformly in [min_history, len), target =
    item k, history = the last ``max_len`` items before it (``min_history`` 1 suits leave-one-out
    sequences; ComiRec uses 4). The interests are read out against the target (MIND: label-aware
    attention with its ``power``; the others: the interest closest to the target) into one user
    vector u, scored s_i = u . e_i, and trained with

    * ``ssm``: sampled softmax over one shared pool of ``n_neg`` items per step (default
      10 x batch_size, as ComiRec's code) drawn with replacement from the ``negatives`` proposal q
      (uniform, or popularity (count + 1)^0.75), with the log-Q correction s_j / T - log(N q_j)
      (an unbiased estimate of the full softmax's partition sum); pool items equal to a row's
      target are left out of that row (TF's accidental-hit removal), other history items stay;
    * ``full``: softmax over the whole catalogue (``n_neg`` and ``negatives`` do not apply).

    Both divide scores by ``temperature``. Adam with ``lr``; ``epochs`` of ``steps_per_epoch``
    steps (default ceil(sum_u max(0, len_u - min_history) / batch_size), about one pass over the
    training targets). With validation, ``monitor``@``monitor_k`` (full ranking, `evaluate`)
    keeps the best epoch and stops after ``patience`` epochs without gain. ``mask_history``:
    whether evaluation leaves each user's history items out of the ranking (False, default: every
    item is ranked, as ComiRec's code does and as the issue reads the S3-Rec/TIGER leave-one-out
    protocol; True: close to S3-Rec's full-sort code, which sets the history items' scores to 0
    before its top-k, here they are left out exactly). On the S3-Rec Amazon files no user repeats
    an item, so a target is never a history item and masking only removes wrong candidates.
    """

    loss: cat.SequenceLossName = "ssm"
    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    patience: int | None = None
    steps_per_epoch: int | None = None
    n_neg: int | None = None
    negatives: cat.NegativeKind | None = None
    temperature: float = 1.0
    min_history: int = 1
    monitor: cat.MonitorName = "recall"
    monitor_k: int = 20
    mask_history: bool = False

    def __post_init__(self) -> None:
        if self.loss not in cat.SEQUENCE_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(cat.SEQUENCE_LOSSES)} for the sequence models; "
                             f"got {self.loss!r}")
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_int("seed", self.seed, 0)
        if self.patience is not None:
            check_int("patience", self.patience, 1)
        if self.steps_per_epoch is not None:
            check_int("steps_per_epoch", self.steps_per_epoch, 1)
        if self.n_neg is not None:
            check_int("n_neg", self.n_neg, 1)
        if self.negatives is not None:
            check_choice("negatives", self.negatives, cat.NEGATIVES)
        check_float("temperature", self.temperature, low=0.0, low_open=True)
        check_int("min_history", self.min_history, 1)
        check_choice("monitor", self.monitor, cat.MONITORS)
        check_int("monitor_k", self.monitor_k, 1)
        if not isinstance(self.mask_history, bool):
            raise ValueError(f"mask_history must be True or False; got {self.mask_history!r}")
        if self.loss == "full":
            for name in ("n_neg", "negatives"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} applies to loss ssm (sampled softmax), not 'full'")

    @property
    def pool_size(self) -> int:
        """Negatives per step for ``ssm``: ``n_neg``, default 10 x batch_size."""
        return 10 * self.batch_size if self.n_neg is None else self.n_neg

    @property
    def proposal(self) -> cat.NegativeKind:
        return "uniform" if self.negatives is None else self.negatives
