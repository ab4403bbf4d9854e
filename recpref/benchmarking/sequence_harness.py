"""Sequence models of several tools on one time-ordered split, every row scored by `evaluate`.

A :class:`SequenceRunner` trains on the split's training sequences (it may early-stop on the
validation users' next item; it never sees a test target) and maps padded input histories to
scores over the whole catalogue. :func:`run_sequence_benchmark` feeds every runner the *same*
test inputs (each test user's history, left-padded to ``max_len``, pad = ``n_items``; the
conventions of `recpref.data.sequences`) and ranks every item for every test user with the one
full-ranking `evaluate`, history items included unless ``mask_history`` (TIGER's numbers rank
them; methods.md 3.3b). So a recpref row and a RecBole or torch-rechub row differ only in the
model and its training, not in split, inputs or metric code.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from recpref.benchmarking.base import RunResult
from recpref.benchmarking.harness import run_rows
from recpref.catalog import check_int
from recpref.data.sequences import HeldOut, Sequences, SequenceSplit

__all__ = ["RecprefSequenceRunner", "SequenceRunner", "run_sequence_benchmark"]


@runtime_checkable
class SequenceRunner(Protocol):
    """One sequence model of one tool.

    ``fit(train, valid, seed)``: ``train`` = the training sequences (time order), ``valid`` =
    held-out users' input histories and next items (for early stopping; may be ignored).
    ``score_histories(items, mask)``: items (B, T) int64 item indices, left-padded with the pad
    index ``n_items`` where ``mask`` (B, T) bool is False -> (B, n_items) scores.
    ``epoch_seconds``: after ``fit``, the wall time of each training epoch's steps (validation
    excluded), as the tool's own loop measures it; empty when the tool has no epochs."""

    name: str
    tool: str
    epoch_seconds: list[float]

    def fit(self, train: Sequences, valid: HeldOut | None, seed: int) -> object: ...

    def score_histories(self, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...

    def params(self) -> dict[str, Any]: ...


def run_sequence_benchmark(
    split: SequenceSplit,
    runners: Sequence[SequenceRunner],
    *,
    max_len: int,
    k: Sequence[int] = (5, 10),
    metrics: Sequence[str] = ("recall", "ndcg"),
    seed: int = 0,
    mask_history: bool = False,
    item_categories: Any = None,
    on_start: Callable[[str, int], None] | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    raise_errors: bool = False,
) -> list[RunResult]:
    """Fit each runner on ``split.train`` (``split.valid`` for early stopping) and score it on
    ``split.test``: every test user's input history (its last ``max_len`` items) ranked against
    every item by `evaluate`. ``train_seconds`` = the whole ``fit`` (validation rankings
    included, as a user pays them); ``epoch_seconds`` in the row's params = the median of the
    runner's per-epoch training times. With ``item_categories`` ((n_items,) category ids) each
    row also gets ``diversity@k`` of the same top-k lists (`evaluate_with_diversity`). A runner
    that raises gets a row with ``error`` set unless ``raise_errors``."""
    from recpref.evaluation import EvalResult, evaluate, evaluate_with_diversity
    from recpref.modules.sequence import evaluation_mask

    check_int("max_len", max_len, 1)
    if not runners:
        raise ValueError("runners is empty: give at least one SequenceRunner")
    inputs = split.test.inputs.padded(None, max_len)
    seen = evaluation_mask(split.test.inputs.to_interactions(), mask_history)
    truth = split.test.targets.to_interactions()
    def score(runner: SequenceRunner) -> EvalResult:
        def scorer(users: torch.Tensor) -> torch.Tensor:
            u = users.cpu()
            return runner.score_histories(inputs.items[u], inputs.mask[u])

        if item_categories is None:
            return evaluate(scorer, seen, truth, k=k, metrics=metrics)
        return evaluate_with_diversity(scorer, seen, truth, item_categories, k=k, metrics=metrics)

    def epochs(runner: SequenceRunner) -> dict[str, Any]:
        if not runner.epoch_seconds:
            return {}
        return {"epochs_run": len(runner.epoch_seconds), "epoch_seconds": statistics.median(runner.epoch_seconds)}

    return run_rows(runners, lambda runner: runner.fit(split.train, split.valid, seed), score, extra_params=epochs,
                    on_start=on_start, on_result=on_result, raise_errors=raise_errors)


class RecprefSequenceRunner:
    """A recpref sequence model (`Recommender` settings, e.g. ``model="sasrec"``) as a runner:
    trains through `Recommender.fit` with the validation users' next items for early stopping
    and scores through the trained `HistoryModel`."""

    tool = "recpref"

    def __init__(self, name: str | None = None, *, accelerator: str = "cpu", **settings: Any) -> None:
        from recpref.serving import Recommender

        Recommender(**settings)  # validated now, not at fit time
        self.settings, self.accelerator = settings, accelerator
        self.name = name or str(settings.get("model", "recpref"))
        self.epoch_seconds: list[float] = []
        self.best_epoch: int | None = None
        self._model: Any = None

    def params(self) -> dict[str, Any]:
        return dict(self.settings)

    @property
    def history_model(self) -> Any:
        """The trained `recpref.models.HistoryModel` (on the CPU, in eval mode) after `fit`, e.g.
        for multi-interest retrieval and aggregation (`recpref.serving.retrieve`, ``aggregate``)
        from its ``sequence`` encoder; ``RuntimeError`` before."""
        if self._model is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train, valid, seed) first")
        return self._model

    def fit(self, train: Sequences, valid: HeldOut | None, seed: int) -> None:
        from recpref.models import HistoryModel
        from recpref.serving import Recommender

        rec = Recommender(**{**self.settings, "seed": seed})
        # leave-one-out validates from the training sequences (valid.inputs is train); other splits
        # (comirec_split) from the validation users' own input histories
        held = None if valid is None or valid.inputs is train else valid.inputs.to_interactions()
        rec.fit(train.to_interactions(), valid=None if valid is None else valid.targets.to_interactions(),
                progress=False, accelerator=self.accelerator, valid_history=held)
        assert isinstance(rec.encoder, HistoryModel)
        self._model, self.best_epoch = rec.encoder, rec.best_epoch
        self.epoch_seconds = [float(h["train_seconds"]) for h in rec.history if "train_seconds" in h]

    def score_histories(self, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self._model is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train, valid, seed) first")
        window = int(self._model.max_len)  # left padding: the most recent items are the last columns
        with torch.no_grad():
            scores: torch.Tensor = self._model.score_histories(items[:, -window:], mask[:, -window:])
        return scores
