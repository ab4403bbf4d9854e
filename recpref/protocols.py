"""Evaluation protocols that the CLI (and scripts) run end to end: which split, which
propensities, which model selection, and which items are masked when the test set is ranked.

Kept out of the CLI so they are importable, typed and tested; the CLI only parses flags and
calls these. A loaded dataset is any object with ``name``, ``interactions``, ``splits``,
``extras``, ``users`` and ``items`` (see `data_loaders.Dataset`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recpref.catalog import PropensityKind, ProtocolName
from recpref.data import Interactions, Split, random_split
from recpref.training.config import MNARConfig

__all__ = ["Outcome", "evaluation_split", "mnar_propensity", "train_mnar", "train_pairwise", "train_sequence"]


@dataclass
class Outcome:
    """A trained recommender, its test result, how the test was scored, and what happened."""

    recommender: Any  # recpref.serving.Recommender
    result: Any  # recpref.evaluation.EvalResult
    how: str
    notes: list[str] = field(default_factory=list)


def has_given_split(ds: Any) -> bool:
    return {"train", "test"} <= set(ds.splits)


def evaluation_split(ds: Any, protocol: ProtocolName, *, test_ratio: float, valid_ratio: float = 0.0,
                     seed: int) -> tuple[Split, str]:
    """The train/(valid)/test split of ``ds`` and a one-line description.

    ``predefined``: the dataset's own train/test (a validation part carved from its train with
    ``valid_ratio``); ``ValueError`` when the dataset has none. ``random``: a per-user holdout of
    every interaction (`random_split`)."""
    if protocol == "predefined":
        if not has_given_split(ds):
            raise ValueError(f"protocol 'predefined' needs the dataset's own train/test split; {ds.name} has none "
                             f"(parts: {sorted(ds.splits) or 'none'}); use protocol 'random'")
        given = ds.split()
        if not valid_ratio:
            return given, f"{ds.name} predefined train/test split"
        inner = random_split(given.train, test_ratio=valid_ratio, seed=seed)
        split = Split(train=inner.train, test=given.test, valid=inner.test, allow_overlap=True)
        return split, f"{ds.name} predefined train/test split, {valid_ratio:.0%} of train held out for validation"
    split = random_split(ds.interactions, test_ratio=test_ratio, valid_ratio=valid_ratio, seed=seed)
    return split, (f"{ds.name}: all interactions positive, random per-user {1 - test_ratio:.0%}/{test_ratio:.0%} "
                   f"split (floor per user), seed {seed}")


def mnar_propensity(ds: Any, kind: PropensityKind, clicks: Interactions, *, eta: float = 0.5) -> np.ndarray:
    """Exposure propensities for MNAR training on ``clicks``: ``popularity`` ((clicks_i / max)^eta),
    ``given`` (the dataset's own per-cell propensities) or ``logistic`` (P(rated) from user and item
    features). ``ValueError`` when the dataset lacks what the kind needs."""
    from recpref.propensity import logistic_propensity, popularity_propensity, user_item_propensity

    if kind == "given":
        if "propensities" not in ds.extras:
            raise ValueError(f"propensity 'given': {ds.name} ships no propensities; use propensity 'popularity'")
        return user_item_propensity(ds.extras["propensities"], clicks)
    if kind == "logistic":
        observed = ds.extras.get("train_observed")
        if observed is None or ds.users is None or ds.items is None:
            raise ValueError(f"propensity 'logistic' needs rated cells and user/item features; {ds.name} lacks them")
        return logistic_propensity(observed, ds.users.drop("user_id").to_numpy(), ds.items.drop("item_id").to_numpy())
    return popularity_propensity(clicks, eta=eta)


def train_pairwise(ds: Any, settings: dict[str, Any], *, protocol: ProtocolName, test_ratio: float,
                   valid_ratio: float, seed: int, k: tuple[int, ...], accelerator: str = "auto",
                   progress: bool = False) -> Outcome:
    """Split, train (early stopping on the validation part when ``valid_ratio``), and rank the
    test part by full ranking with every item the model trained on masked."""
    from recpref.evaluation import evaluate
    from recpref.serving import Recommender

    rec = Recommender(**settings)  # validated before any data work
    split, described = evaluation_split(ds, protocol, test_ratio=test_ratio, valid_ratio=valid_ratio, seed=seed)
    notes = [f"{described}; {split.train.nnz} train, {0 if split.valid is None else split.valid.nnz} validation, "
             f"{split.test.nnz} test interactions"]
    rec.fit(split.train, valid=split.valid, progress=progress, accelerator=accelerator)
    result = evaluate(rec.score_all, split.train, split.test, k=k, metrics=("recall", "ndcg", "precision", "map"))
    return Outcome(rec, result, "full ranking, train items masked", notes)


def train_sequence(ds: Any, settings: dict[str, Any], *, k: tuple[int, ...], accelerator: str = "auto",
                   progress: bool = False) -> Outcome:
    """The leave-one-out protocol of S3-Rec / TIGER for a sequence model: each user's events in
    time order (ties by input position, `recpref.data.sequences`), the last one the test target,
    the one before it the validation target (early stopping), the rest the training sequence.
    Test: full ranking for every user from the input history = training sequence + validation
    item, scored by `evaluate`; the user's history items are ranked too unless the settings ask
    ``mask_history`` (`recpref.modules.sequence.evaluation_mask`)."""
    import torch

    from recpref.data import Sequences, leave_one_out
    from recpref.evaluation import evaluate
    from recpref.models import HistoryModel
    from recpref.modules.sequence import evaluation_mask
    from recpref.serving import Recommender

    rec = Recommender(**settings)  # validated before any data work
    if ds.interactions.timestamps is None:
        raise ValueError(f"{ds.name} has no timestamps: the sequence models need each user's time order")
    split = leave_one_out(Sequences.from_interactions(ds.interactions))
    assert split.valid is not None
    train, valid = split.train.to_interactions(), split.valid.targets.to_interactions()
    notes = [f"{ds.name}: leave-one-out over {split.test.users.size} users ({train.nnz} train events; last item "
             "test, second-to-last validation; same-position ties in input order)"]
    rec.fit(train, valid=valid, progress=progress, accelerator=accelerator)
    model = rec.encoder
    assert isinstance(model, HistoryModel)
    inputs = split.test.inputs.padded(None, model.max_len)

    def scorer(users: torch.Tensor) -> torch.Tensor:
        u = users.cpu()
        return model.score_histories(inputs.items[u], inputs.mask[u])

    mask_history = bool(getattr(rec.config.train, "mask_history", False))
    result = evaluate(scorer, evaluation_mask(split.test.inputs.to_interactions(), mask_history),
                      split.test.targets.to_interactions(), k=k, metrics=("recall", "ndcg"))
    how = ("full ranking from train + validation item, " +
           ("history items masked" if mask_history else "all items ranked (history items included)"))
    return Outcome(rec, result, how, notes)


def train_mnar(ds: Any, settings: dict[str, Any], *, propensity: PropensityKind, eta: float, valid_ratio: float,
               seed: int, k: tuple[int, ...] | None, accelerator: str = "auto", progress: bool = False) -> Outcome:
    """Learn from the biased clicks of ``ds``'s own train split and score its test split.

    With ``valid_ratio`` > 0, that share of each user's clicks is held out (as biased as the
    rest) to choose the number of epochs by SNIPS-DCG@max(k); the model is then retrained on
    every train click for that many epochs. Test: each user's shown items ranked (datasets with
    ``test_candidates``: Coat, Yahoo! R3) or a full ranking with every click the final model
    trained on masked."""
    from recpref.evaluation import evaluate, evaluate_candidates
    from recpref.serving import Recommender

    if not has_given_split(ds):
        raise ValueError(f"MNAR losses learn from biased clicks and are scored on the dataset's own test split; "
                         f"{ds.name} has none (try coat or yahoo-r3)")
    candidates = ds.extras.get("test_candidates")
    ks = k or ((1, 3, 5) if candidates is not None else (10, 20))
    settings = {**settings, "monitor_k": max(ks)}
    rec = Recommender(**settings)  # validated before any data work
    loss = rec.config.loss
    exposure = ds.extras.get("train_observed") if loss == "dr" else None
    if loss == "dr" and exposure is None:
        raise ValueError(f"loss 'dr' needs the shown cells; {ds.name} does not record them")
    split = ds.split()
    cfg = rec.config.train
    assert isinstance(cfg, MNARConfig)
    notes: list[str] = [f"training mf/{loss} on {ds.name} MNAR clicks: propensity {propensity}, clip {cfg.clip}, "
                        f"local {cfg.local}"]
    if valid_ratio:
        inner = random_split(split.train, test_ratio=valid_ratio, seed=seed)
        theta = mnar_propensity(ds, propensity, inner.train, eta=eta)
        notes.append(f"{inner.train.nnz} clicks, {inner.test.nnz} held out to choose the epochs by "
                     f"SNIPS-DCG@{max(ks)}; propensity {propensity} (min {theta.min():.4g})")
        rec.fit(inner.train, valid=inner.test, progress=progress, accelerator=accelerator, propensity=theta,
                exposure=exposure)
        key = f"val/snips_dcg@{max(ks)}"  # what the fit selected its best epoch on
        best = next((h for h in rec.history if key in h and int(h["epoch"]) == rec.best_epoch), None)
        epochs = int(best["epoch"]) + 1 if best else rec.config.train.epochs
        notes.append(f"best {key} {best[key] if best else float('nan'):.4f} after {epochs} epoch(s); retrained on "
                     f"all {split.train.nnz} clicks for {epochs} epoch(s)")
        rec = Recommender(rec.config, epochs=epochs, patience=None)
    theta = mnar_propensity(ds, propensity, split.train, eta=eta)
    rec.fit(split.train, progress=progress, accelerator=accelerator, propensity=theta, exposure=exposure)
    if candidates is not None:
        result = evaluate_candidates(rec.score_all, candidates, k=ks, metrics=("dcg", "recall", "map", "ndcg"),
                                     relevance_threshold=float(ds.extras.get("positive_rating", 4.0)))
        how = "each user's randomly shown test items ranked; relevant = rating >= threshold"
    else:
        # the final model trained on every click of split.train: all of them are masked
        result = evaluate(rec.score_all, split.train, split.test, k=ks, metrics=("recall", "ndcg", "precision", "map"))
        how = "full ranking, train items masked"
    return Outcome(rec, result, how, notes)
