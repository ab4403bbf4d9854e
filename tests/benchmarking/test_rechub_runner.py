"""torch-rechub 0.9.0's MIND / ComiRec-SA / ComiRec-DR as sequence-harness runners: they train
end to end, score column j is recpref item j (checked against torch-rechub's own item table and
its own training forward), their examples hold no held-out target, bad arguments are refused,
and fit is seeded and leaves the global generators as it found them."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

from conftest import cyclic_interactions

from recpref.benchmarking.rechub_runner import (
    HISTORY_FEATURE,
    ITEM_FEATURE,
    MODELS,
    NEGATIVES_FEATURE,
    PRESETS,
    USER_FEATURE,
    RecHubMultiInterest,
    _build_model,
    build_examples,
)
from recpref.benchmarking.sequence_harness import SequenceRunner, run_sequence_benchmark
from recpref.data import Sequences, leave_one_out
from recpref.data.sequences import SequenceSplit

pytest.importorskip("torch_rechub", reason="torch-rechub (a benchmark peer) is not installed")

N_ITEMS = 30
SMALL: dict[str, Any] = dict(dim=8, max_len=8, batch_size=64)


def _cyclic_split(n_users: int = 120, seed: int = 0) -> SequenceSplit:
    """Each user walks the catalogue in steps of +1 (mod N_ITEMS), 6 to 10 events, so no user
    repeats an item (`conftest.cyclic_interactions`)."""
    return leave_one_out(Sequences.from_interactions(cyclic_interactions(n_users, seed, n_items=N_ITEMS)))


def _numpy_state() -> tuple[np.ndarray, int, int, float]:
    state = np.random.get_state(legacy=False)
    assert isinstance(state, dict)
    return (state["state"]["key"].copy(), int(state["state"]["pos"]), int(state["has_gauss"]),
            float(state["gauss"]))


def test_all_three_models_train_through_the_harness() -> None:
    split = _cyclic_split()
    runners = [RecHubMultiInterest(m, "fair", epochs=6 if m == "comirec-sa" else 2, **SMALL)  # type: ignore[arg-type]
               for m in MODELS]
    assert all(isinstance(r, SequenceRunner) for r in runners)
    rows = run_sequence_benchmark(split, runners, max_len=12, k=(5,), raise_errors=True)
    for runner, row in zip(runners, rows):
        assert row.error is None and row.tool == "torch-rechub" and row.n_users == split.test.users.size
        assert all(math.isfinite(v) for v in row.metrics.values()) and set(row.metrics) == {"recall@5", "ndcg@5"}
        assert row.params["epochs_run"] == runner.settings.epochs and all(s > 0 for s in runner.epoch_seconds)
        assert row.params["preset"] == "fair" and row.params["dim"] == 8 and row.params["n_interests"] == 4
        assert row.params["torch_rechub"] == "0.9.0" and row.params["temperature_applied"] is False
    assert rows[1].metrics["recall@5"] > 1.5 * 5 / N_ITEMS  # ComiRec-SA learns the +1 walk: above random


@pytest.mark.parametrize("model,dynamic", [("mind", False), ("mind", True), ("comirec-sa", False),
                                           ("comirec-dr", False)])
def test_score_column_j_is_recpref_item_j(model: str, dynamic: bool) -> None:
    split = _cyclic_split(n_users=60)
    runner = RecHubMultiInterest(model, "fair", epochs=1, dynamic_interest=dynamic, **SMALL)  # type: ignore[arg-type]
    runner.fit(split.train, split.valid, seed=5)
    inputs = split.test.inputs.padded(None, 12)
    scores = runner.score_histories(inputs.items, inputs.mask)
    assert scores.shape == (split.test.users.size, N_ITEMS) and scores.dtype == torch.float32
    assert runner.score_histories(inputs.items, inputs.mask).equal(scores)  # MIND's random routing is seeded

    # 1. against their item embedding table: their id j + 1, L2-normalised as their item tower
    net: Any = runner._net
    assert net is not None
    table = net.embedding.embed_dict[ITEM_FEATURE].weight.detach()  # (n_items + 1, dim), row 0 = padding
    assert table.shape == (N_ITEMS + 1, 8)
    items = torch.nn.functional.normalize(table[1:], dim=-1)
    vectors, active = runner.interests(inputs.items, mask=inputs.mask)
    per_interest = torch.einsum("bkd,nd->bkn", vectors, items)
    if dynamic:
        assert active is not None
        lengths = np.minimum(split.test.inputs.lengths[split.test.users], 8)
        expected_k = np.clip(np.floor(np.log2(lengths)), 1, 4)  # MIND's K'_u of the kept history
        assert np.array_equal(active.sum(1).numpy(), expected_k)
        per_interest = per_interest.masked_fill(~active[:, :, None], float("-inf"))
    else:
        assert active is None
    torch.testing.assert_close(scores, per_interest.amax(1))

    # 2. against their own training forward: logit 0 of item_id = j + 1 is the best interest . e_j
    history = torch.as_tensor(runner.to_rechub_histories(inputs.items, inputs.mask))
    b = history.shape[0]
    for j in (0, 7, N_ITEMS - 1):
        x = {USER_FEATURE: torch.zeros(b, dtype=torch.int64), HISTORY_FEATURE: history,
             ITEM_FEATURE: torch.full((b,), j + 1), NEGATIVES_FEATURE: torch.ones(b, 2, dtype=torch.int64)}
        net.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(5)
            logits = net(x)
        torch.testing.assert_close(logits[:, 0], scores[:, j])


def test_histories_map_to_their_layout_exactly() -> None:
    # left-padded harness rows (pad = N_ITEMS) -> ids + 1, 0 = padding, their pad / truncate sides
    items = torch.tensor([[N_ITEMS, N_ITEMS, 0, 5, 29, 3], [1, 2, 3, 4, 5, 6]])
    mask = items != N_ITEMS
    fair = RecHubMultiInterest("comirec-sa", "fair", max_len=4).to_rechub_histories(items, mask)
    assert fair.tolist() == [[1, 6, 30, 4], [4, 5, 6, 7]]  # the last 4 items, padding after them
    defaults = RecHubMultiInterest("comirec-sa", "defaults", max_len=5).to_rechub_histories(items, mask)
    assert defaults.tolist() == [[1, 6, 30, 4, 0], [2, 3, 4, 5, 6]]  # their examples: the first 5 items


def test_examples_are_our_training_prefixes_and_hold_no_held_out_target() -> None:
    split = _cyclic_split()
    train = split.train
    assert split.valid is not None
    settings = PRESETS["fair"]
    np.random.seed(0)
    ex = build_examples(train, settings)
    n = int((train.lengths - 1).clip(min=0).sum())
    assert ex.y.shape == (n,) and not ex.y.any()
    assert ex.x[HISTORY_FEATURE].shape == (n, settings.max_len)
    assert ex.x[NEGATIVES_FEATURE].shape == (n, settings.neg_ratio)
    negatives = ex.x[NEGATIVES_FEATURE]
    assert negatives.min() >= 1 and negatives.max() <= N_ITEMS and not ex.x[USER_FEATURE].any()
    for i in range(n):
        seq = train.sequence(int(ex.users[i]))
        cut = int(ex.cuts[i])
        assert 1 <= cut < len(seq) and ex.x[ITEM_FEATURE][i] == seq[cut] + 1
        prefix = (seq[:cut] + 1)[-settings.max_len:]
        assert ex.x[HISTORY_FEATURE][i].tolist() == prefix.tolist() + [0] * (settings.max_len - len(prefix))
    # per user: every prefix once, and never the validation or test target (no user repeats an item)
    for u in split.test.users:
        mine = ex.users == u
        assert sorted(ex.cuts[mine].tolist()) == list(range(1, len(train.sequence(u))))
        seen = set(ex.x[ITEM_FEATURE][mine].tolist()) | set(ex.x[HISTORY_FEATURE][mine].ravel().tolist()) - {0}
        held_out = {int(split.valid.targets.sequence(u)[0]) + 1, int(split.test.targets.sequence(u)[0]) + 1}
        assert not seen & held_out


def test_fit_is_seeded_and_leaves_the_global_generators_alone() -> None:
    split = _cyclic_split(n_users=40)
    inputs = split.test.inputs.padded(None, 8)
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    py, nps, ts = random.getstate(), _numpy_state(), torch.get_rng_state()
    runs = []
    for seed in (3, 3, 4):
        runner = RecHubMultiInterest("comirec-dr", "defaults", epochs=1, **SMALL)
        runner.fit(split.train, None, seed)
        runs.append(runner.score_histories(inputs.items, inputs.mask))
    assert runs[0].equal(runs[1]) and not runs[0].equal(runs[2])
    assert random.getstate() == py and torch.equal(torch.get_rng_state(), ts)
    after = _numpy_state()
    assert np.array_equal(after[0], nps[0]) and after[1:] == nps[1:]


def test_comirec_dr_routing_weights_are_initialised() -> None:
    torch.manual_seed(0)
    net: Any = _build_model("comirec-dr", PRESETS["fair"], n_items=50, dynamic_interest=False)
    w = net.capsule.w.detach()
    assert torch.isfinite(w).all() and abs(float(w.std()) - 1.0) < 0.05 and abs(float(w.mean())) < 0.05


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="model must be one of mind, comirec-sa, comirec-dr"):
        RecHubMultiInterest("sasrec")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="preset must be one of defaults, fair"):
        RecHubMultiInterest("mind", "tuned")  # type: ignore[arg-type]
    for key, value in (("dim", 0), ("n_interests", 0), ("max_len", -1), ("epochs", True), ("batch_size", 1.5),
                       ("neg_ratio", 0), ("lr", 0.0), ("weight_decay", -1e-6)):
        with pytest.raises(ValueError, match=key):
            RecHubMultiInterest("mind", **{key: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dynamic_interest applies to model mind"):
        RecHubMultiInterest("comirec-sa", dynamic_interest=True)
    with pytest.raises(ValueError, match="device"):
        RecHubMultiInterest("mind", device="abacus")
    runner = RecHubMultiInterest("mind")
    with pytest.raises(RuntimeError, match="not fitted"):
        runner.score_histories(torch.zeros(1, 3, dtype=torch.int64), torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="seed"):
        runner.fit(_cyclic_split().train, None, -1)


def test_presets_and_overrides() -> None:
    d = RecHubMultiInterest("mind", "defaults").params()
    assert (d["dim"], d["n_interests"], d["epochs"], d["batch_size"], d["truncating"]) == (16, 4, 10, 256, "post")
    f = RecHubMultiInterest("comirec-sa", "fair", epochs=7, max_len=20).params()
    assert (f["dim"], f["n_interests"], f["max_len"], f["epochs"], f["batch_size"]) == (64, 4, 20, 7, 512)
    assert f["truncating"] == "pre" and f["neg_ratio"] == 3 and f["lr"] == 1e-3 and d["dynamic_interest"] is False


def test_importing_the_runner_does_not_import_torch_rechub() -> None:
    code = "import sys, recpref.benchmarking.rechub_runner; print('torch_rechub' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ})
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_comirec_sa_trains_one_fair_epoch_on_amazon_beauty() -> None:
    import data_loaders

    try:
        ds = data_loaders.load("amazon-beauty")
    except Exception as e:  # noqa: BLE001 - the data set is staged by hand
        pytest.skip(f"amazon-beauty not available: {e}")
    split = leave_one_out(Sequences.from_interactions(ds.interactions))
    runner = RecHubMultiInterest("comirec-sa", "fair", dim=64, n_interests=4, max_len=50, batch_size=512, epochs=1)
    [row] = run_sequence_benchmark(split, [runner], max_len=50, k=(5, 10), raise_errors=True)
    assert len(runner.epoch_seconds) == 1 and all(math.isfinite(v) for v in row.metrics.values())
