"""Validation users outside train (ComiRec's strong-generalisation split): `fit(...,
valid_history=)` ranks them from their own input histories, stores those histories in the model,
and refuses misuse; the sequence harness passes them for such splits and not for leave-one-out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import cyclic_interactions

from recpref.benchmarking.sequence_harness import RecprefSequenceRunner
from recpref.data import Sequences, comirec_split, leave_one_out
from recpref.evaluation import evaluate
from recpref.models import HistoryModel
from recpref.modules.sequence import evaluation_mask
from recpref.serving import Recommender
from recpref.training import ModelConfig, PairwiseConfig, fit

N_ITEMS = 24
SMALL = {"model": "mean", "dim": 8, "max_len": 6, "batch_size": 32, "steps_per_epoch": 5, "epochs": 1, "lr": 1e-2,
         "monitor_k": 5, "min_history": 1, "n_neg": 10}


def _cyclic(n_users: int = 60, seed: int = 0) -> Sequences:
    return Sequences.from_interactions(cyclic_interactions(n_users, seed, n_items=N_ITEMS))


def test_validation_users_are_ranked_from_their_own_input_histories() -> None:
    split = comirec_split(_cyclic(), seed=0)
    assert split.valid is not None
    train, held = split.train.to_interactions(), split.valid.inputs.to_interactions()
    rec = Recommender(**SMALL).fit(train, valid=split.valid.targets.to_interactions(), valid_history=held,
                                   progress=False, accelerator="cpu")
    model = rec.encoder
    assert isinstance(model, HistoryModel)
    window = split.valid.inputs.padded(None, model.max_len)
    users = torch.from_numpy(split.valid.users.astype(np.int64))
    assert torch.equal(model.history_mask[users], window.mask[users])
    assert torch.equal(model.histories[users][window.mask[users]], window.items[users][window.mask[users]])
    assert bool(model.history_mask[users].any(1).all())  # every validation user has a history now
    # the logged validation score is the evaluator's on those histories (one epoch: the final weights)
    direct = evaluate(model.score_all, evaluation_mask(held, False), split.valid.targets.to_interactions(), k=5,
                      metrics=("recall",))
    assert rec.history[0]["val/recall@5"] == pytest.approx(direct["recall@5"])


def test_valid_history_is_refused_where_it_does_not_belong() -> None:
    seqs = _cyclic()
    split = comirec_split(seqs, seed=0)
    assert split.valid is not None
    train, held, target = (split.train.to_interactions(), split.valid.inputs.to_interactions(),
                           split.valid.targets.to_interactions())
    with pytest.raises(ValueError, match="without valid"):
        Recommender(**SMALL).fit(train, valid_history=held, progress=False, accelerator="cpu")
    with pytest.raises(ValueError, match="applies to the sequence models"):
        fit(ModelConfig("mf", dim=4), PairwiseConfig(epochs=1), train, target, valid_history=held)
    loo = leave_one_out(seqs)  # its validation users are training users
    assert loo.valid is not None
    with pytest.raises(ValueError, match="have training events too"):
        Recommender(**SMALL).fit(loo.train.to_interactions(), valid=loo.valid.targets.to_interactions(),
                                 valid_history=loo.valid.inputs.to_interactions(), progress=False, accelerator="cpu")


@pytest.mark.parametrize("splitter", ["comirec", "leave-one-out"])
def test_the_harness_runner_passes_held_out_histories_only_when_needed(splitter: str) -> None:
    seqs = _cyclic()
    split = comirec_split(seqs, seed=0) if splitter == "comirec" else leave_one_out(seqs)
    assert split.valid is not None
    runner = RecprefSequenceRunner(**SMALL)
    runner.fit(split.train, split.valid, seed=0)
    model = runner.history_model
    users = torch.from_numpy(split.valid.users.astype(np.int64))
    assert bool(model.history_mask[users].any(1).all())
