"""`Recommender`: fit on interactions, recommend on raw ids, save/load without pickles.

Training goes through `recpref.training.fit` (the one training core); this class only keeps
the result, ranks for raw ids and persists it (`recpref.serving.persistence`: JSON +
safetensors with content hashes; loading never unpickles anything).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl
import torch

from recpref.catalog import SEQUENCE_MODELS
from recpref.data import Interactions
from recpref.models import Encoder, HistoryModel
from recpref.training.config import (AnyModelConfig, TrainConfig, default_loss, flat_settings, is_sequence_model,
                                     settings_from_flat, settings_keys)

if TYPE_CHECKING:
    from recpref.serving.retrieval import FaissIndex, FaissKind, IndexName, ItemIndex


@dataclass(frozen=True)
class RecommenderConfig:
    """The model's settings and its training family's settings (both validated when built).

    Build it from flat keywords with `RecommenderConfig.of` (as ``Recommender(**settings)``
    does); a setting that does not apply to the chosen loss is refused, not ignored."""

    model: AnyModelConfig
    train: TrainConfig

    @classmethod
    def of(cls, **settings: Any) -> RecommenderConfig:
        model, train = settings_from_flat(**settings)
        return cls(model, train)

    def flat(self) -> dict[str, Any]:
        """Every setting as one flat JSON-serialisable dict (what `of` takes back)."""
        return flat_settings(self.model, self.train)

    @property
    def loss(self) -> str:
        return self.train.loss

    def __getattr__(self, name: str) -> Any:
        """Read any setting by its flat name (``config.lr``, ``config.dim``, ``config.nonneg``)."""
        for part in ("train", "model"):
            obj = self.__dict__.get(part)
            if obj is not None and name in getattr(obj, "__dataclass_fields__", {}):
                return getattr(obj, name)
        raise AttributeError(f"RecommenderConfig has no setting {name!r}")


@dataclass(frozen=True)
class InterestRecommendations:
    """`Recommender.recommend_interests`' answer for one history.

    ``per_interest``: ``interest`` (0-based, active interests only), ``rank`` (1-based),
    ``item_id``, ``score`` (= item . that interest): each interest's own top-k.
    ``aggregated``: ``rank``, ``item_id``, ``score`` (= f, the max over the active interests) and,
    when categories were given, ``category``: the k items chosen from the union of those lists
    by the controllable aggregation with ``lam`` (``lam = 0``: the top-k by f).
    ``n_active``: the number of active interests; ``lam``: the aggregation's diversity weight."""

    per_interest: pl.DataFrame
    aggregated: pl.DataFrame
    n_active: int
    lam: float


class Recommender:
    """Learns preferences from implicit feedback and recommends items for raw user ids.

    Settings are keywords of `recpref.training.ModelConfig` and of the training family that
    ``loss`` selects (`PairwiseConfig` for bpr/bpo/nbpo/nbpo_exact, `MNARConfig` for
    naive/relmf/snips/dr/wmf/ubpr); each is validated here, naming the setting and its valid
    values. A sequence model (``model`` mind, comirec-dr, comirec-sa, mean, sasrec, hcn) takes
    `SequenceModelConfig` and `SequenceConfig` settings (loss ssm or full), trains on
    interactions with timestamps (each user's time order), recommends for known users from their
    last ``max_len`` training items and, with `recommend_history`, for a new history of raw
    item ids without retraining.

    Example:
        >>> import data_loaders
        >>> from recpref.serving import Recommender
        >>> train = data_loaders.load("ml-100k").interactions
        >>> rec = Recommender(model="mf", loss="bpr", epochs=2).fit(train, progress=False)
        >>> rec.recommend(["196", "186"], k=3).columns
        ['user_id', 'rank', 'item_id', 'score']
    """

    def __init__(self, config: RecommenderConfig | None = None, **overrides: Any) -> None:
        if config is not None and not isinstance(config, RecommenderConfig):
            raise TypeError(f"config must be a RecommenderConfig, got {type(config).__name__}")
        if config is None:
            self.config = RecommenderConfig.of(**overrides)
        elif not overrides:
            self.config = config
        else:  # keep the model's and the (possibly new) family's settings, then apply the overrides
            model = overrides.get("model", config.model.model)
            loss = overrides.get("loss", config.loss)
            if is_sequence_model(model) != is_sequence_model(config.model.model):
                # another kind of model trains in another family: only dim and seed carry over
                loss = overrides.get("loss", default_loss(model))
                keep = {"dim", "seed"}
            else:
                keep = settings_keys(loss, model)
            kept = {k: v for k, v in config.flat().items() if k in keep}
            self.config = RecommenderConfig.of(**{**kept, "loss": loss, **overrides})
        self.encoder: Encoder | None = None
        self.train: Interactions | None = None
        self.history: list[dict[str, float]] = []
        self.engine: str | None = None
        self.best_epoch: int | None = None  # the epoch whose weights were kept (the last without valid)

    # --------------------------------------------------------------------- training
    def fit(self, train: Interactions, valid: Interactions | None = None, *, progress: bool = True,
            accelerator: str = "auto", devices: int | str = "auto", strategy: str = "auto",
            propensity: np.ndarray | None = None, exposure: Interactions | None = None,
            valid_history: Interactions | None = None) -> Recommender:
        """Train on ``train`` through `recpref.training.fit`. With ``valid`` (same id space) every
        epoch is scored on it (Recall/NDCG@``monitor_k``; SNIPS-DCG for the MNAR losses, whose
        held-out clicks are as biased as the rest), the best weights are kept and training stops
        after ``patience`` epochs without gain.

        ``engine="auto"`` trains MF with BPR/BPO and Adam on one CPU with the fused kernel (the
        same batches and updates as Lightning, several times faster), everything else through
        Lightning (`recpref.training.choose_engine`). MNAR losses take ``propensity``
        ((n_items,) or (n_users, n_items), see `recpref.propensity`) and, for ``dr``,
        ``exposure`` (the shown cells). Sequence models validated on users outside ``train``
        (ComiRec's split) take those users' input histories as ``valid_history``. A fit that
        diverges raises ``FloatingPointError``."""
        from recpref.training.core import fit

        result = fit(self.config.model, self.config.train, train, valid, propensity=propensity, exposure=exposure,
                     valid_history=valid_history,
                     accelerator=accelerator, devices=devices, strategy=strategy, progress=progress)
        self.encoder, self.train, self.history, self.engine = result.encoder, train, result.history, result.engine
        self.best_epoch = result.best_epoch
        return self

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

    def recommend(self, user_ids: Any, k: int = 10, *, exclude_seen: bool = True) -> pl.DataFrame:
        """Top-``k`` items per raw user id: a polars DataFrame ``user_id, rank (1-based), item_id,
        score`` on raw ids, users in the order given. ``user_ids`` is one raw id (a str or an int)
        or a sequence of them. Items the user interacted with in training are left out when
        ``exclude_seen``; a user with fewer than k unseen items gets fewer rows. A model whose
        scores are NaN raises ``ValueError`` instead of recommending nothing."""
        from recpref.evaluation import canonical_topk, topk_unseen

        encoder, train = self._require_fitted()
        _check_k(k, train.n_items)
        raw = _as_id_array(user_ids)
        try:
            users = np.asarray(train.user_vocab.index(raw, what="user"), dtype=np.int64)
        except KeyError as exc:
            raise KeyError(f"unknown user id(s): {exc.args[0]}") from None
        scores = self.score_all(torch.from_numpy(users))
        nan_rows = torch.isnan(scores).any(dim=1).numpy()
        if nan_rows.any():
            raise ValueError(f"the model scores NaN for user(s) {raw[nan_rows][:3].tolist()}: its weights are not "
                             "finite (a diverged fit?); retrain with a lower lr")
        if exclude_seen:
            top, top_scores, keep_t = topk_unseen(scores, train, users, int(k))
        else:
            top = canonical_topk(scores, int(k))
            top_scores = torch.gather(scores, 1, top)
            keep_t = top_scores > float("-inf")
        keep = keep_t.numpy()
        ranks = np.broadcast_to(np.arange(1, top.shape[1] + 1), top.shape)
        return pl.DataFrame({
            "user_id": np.repeat(raw, top.shape[1]).reshape(top.shape)[keep],
            "rank": ranks[keep].astype(np.int32),
            "item_id": train.item_vocab.to_raw(top.numpy()[keep]),
            "score": top_scores.numpy()[keep].astype(np.float32),
        })

    def recommend_history(self, item_ids: Any, k: int = 10, *, exclude_seen: bool = True) -> pl.DataFrame:
        """Top-``k`` items for a new history of raw item ids, oldest first (one id or a sequence;
        repeats allowed; the last ``max_len`` are used), without retraining: a polars DataFrame
        ``rank (1-based), item_id, score``. ``exclude_seen`` leaves the history's own items out.
        Sequence models only (``TypeError`` otherwise); an id the model was not trained on raises
        ``KeyError`` naming it (a new item has no embedding)."""
        from recpref.evaluation import canonical_topk

        encoder, train = self._require_fitted()
        if not isinstance(encoder, HistoryModel):
            raise TypeError(f"recommend_history needs a sequence model ({', '.join(SEQUENCE_MODELS)}); "
                            f"this recommender's model is {self.config.model.model!r}")
        _check_k(k, train.n_items)
        items, window = _history_window(train, encoder, item_ids, "recommend_history")
        with torch.no_grad():
            scores = encoder.score_histories(window, torch.ones_like(window, dtype=torch.bool))
        if torch.isnan(scores).any():
            raise ValueError("the model scores NaN for this history: its weights are not finite (a diverged fit?)")
        if exclude_seen:
            scores[0, torch.from_numpy(items)] = float("-inf")
        top = canonical_topk(scores, int(k))
        top_scores = torch.gather(scores, 1, top)[0]
        keep = (top_scores > float("-inf")).numpy()
        return pl.DataFrame({
            "rank": np.arange(1, top.shape[1] + 1, dtype=np.int32)[keep],
            "item_id": train.item_vocab.to_raw(top[0].numpy()[keep]),
            "score": top_scores.numpy()[keep].astype(np.float32),
        })

    def build_item_index(self, kind: FaissKind = "hnsw", **options: Any) -> FaissIndex:
        """A faiss inner-product index over the sequence model's item embeddings (the real items,
        no padding row), to pass as ``index=`` to `recommend_interests` many times; ``options``
        go to `recpref.serving.retrieval.FaissIndex` (m, ef_construction, ef_search)."""
        from recpref.serving.retrieval import FaissIndex

        return FaissIndex(self._sequence_item_emb("build_item_index"), kind, **options)

    def _sequence_item_emb(self, what: str) -> torch.Tensor:
        encoder, train = self._require_fitted()
        if not isinstance(encoder, HistoryModel):
            raise TypeError(f"{what} needs a sequence model ({', '.join(SEQUENCE_MODELS)}); "
                            f"this recommender's model is {self.config.model.model!r}")
        return encoder.sequence.item_emb.weight.detach()[: train.n_items]

    def recommend_interests(self, item_ids: Any, k: int = 10, *, lam: float = 0.0,
                            item_categories: npt.ArrayLike | torch.Tensor | None = None, exclude_seen: bool = True,
                            index: IndexName | ItemIndex | None = None) -> InterestRecommendations:
        """Multi-interest serving (ComiRec) for a new history of raw item ids (oldest first; the
        last ``max_len`` are encoded), without retraining: each active interest's own top-``k`` by
        inner product and the ``k`` items the controllable aggregation picks from their union
        (`recpref.serving.retrieval`: ``f = max over interests``, greedy ``f - lam * #picked of the
        same category``). ``lam > 0`` needs ``item_categories`` (n_items,) integer category ids
        per item index of the training vocabulary (e.g. `data_loaders.sequences.item_categories`).
        ``exclude_seen`` keeps the history's own items out of every list. ``index``: None (exact
        torch search), ``"faiss"`` (an HNSW graph built for this call), ``"faiss-flat"``, or a
        prebuilt index from `build_item_index`. Sequence models only (``TypeError`` otherwise);
        a single-interest model (mean, sasrec) gives one list equal to the aggregated one at lam 0.
        """
        from recpref.serving.retrieval import aggregate, merge_lists, search_interests

        item_emb = self._sequence_item_emb("recommend_interests")
        encoder, train = self._require_fitted()
        assert isinstance(encoder, HistoryModel)
        _check_k(k, train.n_items)
        if isinstance(lam, bool) or not isinstance(lam, (int, float, np.floating)) or not np.isfinite(lam) or lam < 0:
            raise ValueError(f"lam must be a finite number >= 0 (0 = plain top-k by score); got {lam!r}")
        if item_categories is None:
            if lam > 0:
                raise ValueError("lam > 0 needs item_categories= (n_items,) category ids, one per item index")
            cats = torch.zeros(train.n_items, dtype=torch.int64)
        else:
            from recpref.evaluation.diversity import check_item_categories

            cats = torch.from_numpy(check_item_categories(item_categories, train.n_items))
        items, window = _history_window(train, encoder, item_ids, "recommend_interests")
        with torch.no_grad():
            interests = encoder.sequence.interests(window, torch.ones_like(window, dtype=torch.bool))
        if torch.isnan(interests.vectors).any():
            raise ValueError("the model gives NaN interests for this history: its weights are not finite")
        exclude = torch.from_numpy(items).unsqueeze(0) if exclude_seen else None
        lists, list_scores = search_interests(interests, item_emb, int(k), index=index, exclude=exclude)
        cands = merge_lists(interests, item_emb, lists)
        chosen = aggregate(cands.items, cands.scores, cats, int(k), float(lam))[0]
        chosen = chosen[chosen >= 0]
        pos = (chosen.unsqueeze(1) == cands.items[0].unsqueeze(0)).int().argmax(1)
        k_, n = lists.shape[1], lists.shape[2]
        flat, keep = lists[0].reshape(-1), lists[0].reshape(-1) >= 0
        per = pl.DataFrame({
            "interest": np.repeat(np.arange(k_, dtype=np.int32), n)[keep.numpy()],
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int32), k_)[keep.numpy()],
            "item_id": train.item_vocab.to_raw(flat[keep].numpy()),
            "score": list_scores[0].reshape(-1)[keep].numpy().astype(np.float32),
        })
        agg = pl.DataFrame({
            "rank": np.arange(1, chosen.numel() + 1, dtype=np.int32),
            "item_id": train.item_vocab.to_raw(chosen.numpy()),
            "score": cands.scores[0, pos].numpy().astype(np.float32),
        })
        if item_categories is not None:
            agg = agg.with_columns(pl.Series("category", cats[chosen].numpy()))
        return InterestRecommendations(per, agg, int(interests.mask.sum()), float(lam))

    # --------------------------------------------------------------------- persistence
    def save(self, path: str | Path, *, overwrite: bool = False, extra_files: dict[str, str] | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (with content hashes tying them
        together) into directory ``path``; see `recpref.serving.persistence`."""
        from recpref.serving.persistence import Artifact, save_artifact

        encoder, train = self._require_fitted()
        artifact = Artifact(self.config.flat(), encoder.state_dict(), train)
        return save_artifact(path, artifact, overwrite=overwrite, extra_files=extra_files)

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Rebuild a saved recommender (JSON + safetensors, never a pickle). A corrupted or
        hand-edited directory raises `ModelFileError` naming the file and the problem."""
        from recpref.serving.persistence import CONFIG_FILE, WEIGHTS_FILE, ModelFileError, load_artifact
        from recpref.training.encoders import build_encoder

        art = load_artifact(path)
        src = Path(path)
        try:
            rec = cls(RecommenderConfig.of(**art.config))
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{src / CONFIG_FILE}: invalid settings: {exc}") from None
        encoder = build_encoder(rec.config.model, art.train)
        try:
            encoder.load_state_dict(art.tensors, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ModelFileError(f"{src / WEIGHTS_FILE}: weights do not fit the configured model: {first}") from None
        rec.encoder, rec.train = encoder.eval(), art.train
        return rec


def _check_k(k: Any, n_items: int) -> None:
    """``k`` of a recommendation: a positive integer, at most the number of items."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > n_items:
        raise ValueError(f"k={k} exceeds the number of items ({n_items})")


def _as_id_array(user_ids: Any, what: str = "user_ids") -> np.ndarray:
    """One raw id or a sequence of them -> a non-empty 1-D array (a str is one id, not a sequence)."""
    if isinstance(user_ids, (str, bytes, int, np.integer, np.str_)):
        return np.asarray([user_ids])
    if isinstance(user_ids, np.ndarray):
        raw = user_ids
    elif isinstance(user_ids, Sequence) or hasattr(user_ids, "__iter__"):
        raw = np.asarray(list(user_ids))
    else:
        raise TypeError(f"{what} must be a raw id or a sequence of raw ids, got {type(user_ids).__name__}")
    if raw.ndim != 1 or raw.size == 0:
        raise ValueError(f"{what} must be a raw id or a non-empty 1-D sequence of raw ids")
    return raw


def _history_window(train: Interactions, encoder: HistoryModel, item_ids: Any,
                    method: str) -> tuple[np.ndarray, torch.Tensor]:
    """A new history of raw item ids (oldest first) -> (its item indices (n,), the (1, T) window of
    its last ``max_len``); an id the model was not trained on raises ``KeyError`` naming it and
    ``method``."""
    raw = _as_id_array(item_ids, what="item_ids")
    try:
        items = np.asarray(train.item_vocab.index(raw, what="item id"), dtype=np.int64)
    except (KeyError, ValueError) as exc:
        raise KeyError(f"history: {exc.args[0] if exc.args else exc}; {method} takes raw item ids "
                       "the model was trained on") from None
    return items, torch.from_numpy(items[-encoder.max_len:]).unsqueeze(0)  # (1, T), most recent last
