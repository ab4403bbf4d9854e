"""The sequence family in the training core: every sequence model learns a synthetic sequential
pattern (test recall on held-out last items above a random ranking), settings are validated and
refused where they do not apply, batches are seeded per epoch, the objectives compose the pure
losses, the shared-pool log-Q objective follows the full softmax's gradient, and a Recommender
saves, loads and recommends for known users and new raw-id histories with identical scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from recpref.data import Interactions, Sequences, SequenceSampler, Vocabulary, leave_one_out
from recpref.evaluation import evaluate
from recpref.models import MIND, HistoryModel, MeanPooling, SequenceEncoder
from recpref.modules.sequence import (SEQUENCE_OBJECTIVES, evaluation_mask, full_softmax_objective,
                                      sampled_softmax_objective)
from recpref.losses.softmax import full_softmax_loss, sampled_softmax_loss
from recpref.sampling.sequence_batches import ItemProposal, SequenceBatches, default_steps
from recpref.serving import Recommender
from recpref.training import SequenceConfig, SequenceModelConfig, fit, settings_from_flat

N_CLUSTERS, CLUSTER = 5, 8
N_ITEMS = N_CLUSTERS * CLUSTER


def _sequential_data(n_users: int = 150, seed: int = 0) -> Interactions:
    """Each user walks two item clusters in turn, a0 b0 a1 b1 ... with a_{t+1} = a_t + 1 inside
    its cluster (mod the cluster size): the next item follows the item two steps back. Raw ids
    are strings ``i<index>``; timestamps = position in the sequence."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        a, b = rng.choice(N_CLUSTERS, size=2, replace=False)
        start = rng.integers(CLUSTER, size=2)
        length = int(rng.integers(8, 13))  # <= 2 * CLUSTER - 2: no item repeats within a user
        for t in range(length):
            cluster, offset = (a, start[0]) if t % 2 == 0 else (b, start[1])
            items.append(f"i{cluster * CLUSTER + (offset + t // 2) % CLUSTER}")
            users.append(f"u{u}")
            times.append(t)
    vocab = Vocabulary(np.array([f"i{j}" for j in range(N_ITEMS)], dtype=object))  # index j = raw "ij"
    return Interactions.from_raw(users, items, timestamps=np.asarray(times, dtype=np.float64), item_vocab=vocab)


def _split(data: Interactions) -> tuple[Interactions, Interactions, Sequences, Interactions]:
    s = leave_one_out(Sequences.from_interactions(data))
    assert s.valid is not None
    return s.train.to_interactions(), s.valid.targets.to_interactions(), s.test.inputs, s.test.targets.to_interactions()


SMALL = {"dim": 16, "max_len": 10, "batch_size": 64, "steps_per_epoch": 20, "lr": 1e-2, "epochs": 8,
         "monitor_k": 5}


def _test_recall(rec: Recommender, inputs: Sequences, targets: Interactions, k: int = 5) -> float:
    model = rec.encoder
    assert isinstance(model, HistoryModel)
    padded = inputs.padded(None, model.max_len)
    result = evaluate(lambda u: model.score_histories(padded.items[u], padded.mask[u]),
                      evaluation_mask(inputs.to_interactions(), False), targets, k=k, metrics=("recall",))
    return result[f"recall@{k}"]


@pytest.mark.parametrize(("model", "extra"), [
    ("mind", {"negatives": "popularity", "n_neg": 30}),
    ("comirec-dr", {"n_neg": 30}),
    ("comirec-sa", {"loss": "full"}),
    ("mean", {"n_neg": 30}),
    ("sasrec", {"loss": "full", "dropout": 0.0}),
    ("hcn", {"n_neg": 30, "short_len": 2}),
])
def test_every_sequence_model_learns_the_next_item(model: str, extra: dict[str, object]) -> None:
    train, valid, test_inputs, test_targets = _split(_sequential_data())
    rec = Recommender(model=model, **{**SMALL, **extra}).fit(train, valid=valid, progress=False, accelerator="cpu")
    assert isinstance(rec.encoder, HistoryModel) and rec.engine == "lightning"
    assert [h["epoch"] for h in rec.history] == list(range(8)) and "val/recall@5" in rec.history[-1]
    random_baseline = 5 / N_ITEMS  # one held-out item per user, every item ranked at random
    recall = _test_recall(rec, test_inputs, test_targets)
    assert recall > 2 * random_baseline, (model, recall)


def test_fit_returns_histories_and_respects_time_order() -> None:
    train, _, _, _ = _split(_sequential_data(n_users=20))
    model_cfg, cfg = settings_from_flat(model="mean", epochs=1, steps_per_epoch=2, dim=8, max_len=4)
    assert isinstance(model_cfg, SequenceModelConfig) and isinstance(cfg, SequenceConfig) and cfg.loss == "ssm"
    result = fit(model_cfg, cfg, train, accelerator="cpu")
    model = result.encoder
    assert isinstance(model, HistoryModel) and not model.training and result.best_epoch == 0
    want = Sequences.from_interactions(train).padded(None, 4)
    assert torch.equal(model.histories, want.items) and torch.equal(model.history_mask, want.mask)
    untimed = Interactions.from_indices(train.rows, train.indices, n_users=train.n_users, n_items=train.n_items)
    with pytest.raises(ValueError, match="no timestamps"):
        fit(model_cfg, cfg, untimed)
    mf_model, _ = settings_from_flat(model="mf")
    with pytest.raises(ValueError, match="sequence models train with SequenceConfig"):
        fit(mf_model, cfg, train)
    with pytest.raises(ValueError, match="propensity/exposure apply to the MNAR losses"):
        fit(model_cfg, cfg, train, propensity=np.ones(train.n_items))


@pytest.mark.parametrize(("settings", "error", "match"), [
    ({"model": "comirec-sa", "power": 2.0}, ValueError, "power applies to model mind, not 'comirec-sa'"),
    ({"model": "sasrec", "n_interests": 2}, ValueError, "n_interests applies to model mind, comirec-dr, comirec-sa"),
    ({"model": "mind", "dropout": 0.1}, ValueError, "dropout applies to model sasrec, not 'mind'"),
    ({"model": "mean", "n_blocks": 3}, ValueError, "n_blocks applies to model sasrec"),
    ({"model": "comirec-sa", "n_iterations": 2}, ValueError, "n_iterations applies to model mind, comirec-dr"),
    ({"model": "mind", "attention_dim": 8}, ValueError, "attention_dim applies to model comirec-sa"),
    ({"model": "sasrec", "loss": "bpr"}, ValueError, "loss 'bpr' does not train the sequence models"),
    ({"model": "mf", "loss": "full"}, ValueError, "loss 'full' trains the sequence models .* only"),
    ({"model": "mind", "loss": "full", "n_neg": 10}, ValueError, "n_neg applies to loss ssm"),
    ({"model": "mind", "loss": "full", "negatives": "popularity"}, ValueError, "negatives applies to loss ssm"),
    ({"model": "sasrec", "reg": 0.1}, ValueError, r"\['reg'\] apply to the pairwise losses .* not model 'sasrec'"),
    ({"model": "mind", "n_layers": 2}, ValueError, r"\['n_layers'\] apply to the models mf, lightgcn, ngcf"),
    ({"model": "mf", "max_len": 20}, ValueError, r"\['max_len'\] apply to the sequence models mind"),
    ({"model": "mf", "loss": "bpr", "mask_history": True}, ValueError, r"\['mask_history'\] apply to the sequence"),
    ({"model": "mind", "max_len": 0}, ValueError, "max_len must be an integer >= 1; got 0"),
    ({"model": "mind", "n_interests": 0}, ValueError, "n_interests must be an integer >= 1"),
    ({"model": "mind", "power": -1.0}, ValueError, "power must be a finite number in"),
    ({"model": "mind", "power": math.inf}, ValueError, "power must be a finite number in"),
    ({"model": "sasrec", "dropout": 1.0}, ValueError, "dropout must be a finite number in"),
    ({"model": "sasrec", "dim": 10, "n_heads": 3}, ValueError, "n_heads must divide dim = 10"),
    ({"model": "mean", "temperature": 0.0}, ValueError, "temperature must be a finite number in"),
    ({"model": "mean", "min_history": 0}, ValueError, "min_history must be an integer >= 1"),
    ({"model": "mean", "negatives": "hard"}, ValueError, "negatives must be one of uniform, popularity; got 'hard'"),
    ({"model": "mean", "n_neg": 0}, ValueError, "n_neg must be an integer >= 1"),
    ({"model": "mean", "steps_per_epoch": 0}, ValueError, "steps_per_epoch must be an integer >= 1"),
    ({"model": "mean", "batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
    ({"model": "mean", "mask_history": "yes"}, ValueError, "mask_history must be True or False"),
    ({"model": "mean", "monitor": "auc"}, ValueError, "monitor must be one of recall, ndcg, f1"),
    ({"model": "gru", "loss": "ssm"}, ValueError, "model must be one of"),
    ({"model": "mean", "history_len": 5}, TypeError, "unknown setting"),
])
def test_sequence_settings_are_validated_and_refused_where_they_do_not_apply(
        settings: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        settings_from_flat(**settings)


def test_sequence_settings_defaults_and_round_trip() -> None:
    rec = Recommender(model="mind", power=2.0, n_interests=3)
    assert rec.config.loss == "ssm" and rec.config.power == 2.0 and rec.config.max_len == 50
    assert rec.config.train.pool_size == 10 * 128 and rec.config.train.proposal == "uniform"
    assert rec.config.model.setting("n_iterations") == 3 and rec.config.model.setting("power") == 2.0
    again = Recommender(rec.config, lr=0.01)  # overrides keep the model's settings
    assert again.config.power == 2.0 and again.config.lr == 0.01
    switched = Recommender(rec.config, model="mf")  # another kind of model: its family's defaults, dim and seed kept
    assert switched.config.loss == "bpr" and switched.config.model.model == "mf" and switched.config.dim == 64
    model, train = settings_from_flat(**rec.config.flat())
    assert model == rec.config.model and train == rec.config.train


def test_batches_are_seeded_per_epoch_and_carry_the_proposal() -> None:
    train, _, _, _ = _split(_sequential_data(n_users=40))
    seqs = Sequences.from_interactions(train)
    proposal = ItemProposal(train, "popularity")
    batches = SequenceBatches(SequenceSampler(seqs, 6, min_history=1), batch_size=8, steps=3, seed=5,
                              proposal=proposal, n_neg=12)
    first = list(batches)
    batches.epoch = 0
    again = list(batches)
    second = list(batches)  # epoch 1
    assert len(first) == 3 and set(first[0]) == {"history", "mask", "targets", "neg", "neg_log_q"}
    for a, b in zip(first, again):
        assert all(torch.equal(a[key], b[key]) for key in a)
    assert not all(torch.equal(a["neg"], b["neg"]) for a, b in zip(first, second))
    for batch in first:
        assert batch["history"].shape == (8, 6) and batch["neg"].shape == (12,)
        assert torch.equal(batch["neg_log_q"], proposal.log_q[batch["neg"]])
    assert default_steps(seqs, 1, 8) == math.ceil(int((seqs.lengths - 1).clip(min=0).sum()) / 8)


def test_item_proposal_draws_follow_log_q() -> None:
    train, _, _, _ = _split(_sequential_data(n_users=60))
    for kind in ("uniform", "popularity"):
        proposal = ItemProposal(train, kind)  # type: ignore[arg-type]
        draws = proposal.sample(200_000, torch.Generator().manual_seed(1))
        freq = torch.bincount(draws, minlength=N_ITEMS).double() / draws.numel()
        assert torch.allclose(freq, proposal.log_q.double().exp(), atol=4e-3), kind
        assert math.isclose(float(proposal.log_q.double().exp().sum()), 1.0, rel_tol=1e-5)


def _toy_batch(encoder: SequenceEncoder, b: int = 6, n_neg: int = 7) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    history = torch.randint(encoder.n_items, (b, 4), generator=gen)
    mask = torch.rand(b, 4, generator=gen) > 0.2
    targets = torch.randint(encoder.n_items, (b,), generator=gen)
    neg = torch.cat([targets[:2], torch.randint(encoder.n_items, (n_neg - 2,), generator=gen)])  # two hits
    return {"history": history, "mask": mask, "targets": targets, "neg": neg,
            "neg_log_q": torch.linspace(-3.0, -2.0, n_neg)}


def test_objectives_compose_readout_and_the_pure_losses() -> None:
    torch.manual_seed(0)
    enc = MeanPooling(12, 8, max_len=4)
    batch = _toy_batch(enc)
    v, im = enc.interests(batch["history"], batch["mask"])
    t = enc.item_emb(batch["targets"])
    u = enc.readout(v, im, t)
    scores = u @ enc.item_emb.weight[:12].T
    pos = scores.gather(1, batch["targets"][:, None]).squeeze(1)
    hits = batch["neg"][None, :] == batch["targets"][:, None]
    assert hits.any()
    want = sampled_softmax_loss(pos, scores[:, batch["neg"]], temperature=0.5, log_q=batch["neg_log_q"], mask=hits)
    assert torch.allclose(sampled_softmax_objective(enc, batch, 0.5), want)
    assert torch.allclose(full_softmax_objective(enc, batch, 0.5), full_softmax_loss(scores, batch["targets"],
                                                                                     temperature=0.5))
    assert set(SEQUENCE_OBJECTIVES) == {"ssm", "full"}


def test_mind_objective_uses_label_aware_attention() -> None:
    torch.manual_seed(0)
    enc = MIND(12, 8, n_interests=3, max_len=4, power=2.0).eval()  # eval: fixed routing init
    batch = _toy_batch(enc)
    v, im = enc.interests(batch["history"], batch["mask"])
    t = enc.item_emb(batch["targets"])
    u = enc.readout(v, im, t)  # softmax(2 V e) weighted interests, not the argmax
    scores = u @ enc.item_emb.weight[:12].T
    assert torch.allclose(full_softmax_objective(enc, batch, 1.0), full_softmax_loss(scores, batch["targets"]))


def test_shared_pool_log_q_gradient_follows_the_full_softmax_in_expectation() -> None:
    """The ssm objective (popularity pool, log-Q, target left out of the pool) averaged over many
    pools gives the full softmax's gradient direction on the item table; without the correction
    it does not."""
    torch.manual_seed(0)
    n_items = 30
    enc = MeanPooling(n_items, 6, max_len=4, n_layers=0, init_std=0.5)
    counts = np.linspace(40, 1, n_items).astype(np.int64)  # item j has counts[j] users: a skewed proposal
    rows = np.concatenate([np.arange(c) for c in counts])
    cols = np.repeat(np.arange(n_items), counts)
    clicks = Interactions.from_indices(rows, cols, n_users=int(counts.max()), n_items=n_items)
    proposal = ItemProposal(clicks, "popularity")
    batch = _toy_batch(enc, b=4, n_neg=2)
    params = [enc.item_emb.weight]

    def grad(loss: torch.Tensor) -> torch.Tensor:
        (g,) = torch.autograd.grad(loss, params)
        return g.flatten()

    g_full = grad(full_softmax_objective(enc, batch, 1.0))
    gen = torch.Generator().manual_seed(7)
    sums = {"logq": torch.zeros_like(g_full), "none": torch.zeros_like(g_full)}
    reps = 300
    for _ in range(reps):
        neg = proposal.sample(400, gen)
        for name, log_q in (("logq", proposal.log_q[neg]), ("none", torch.full((400,), -math.log(400.0)))):
            sums[name] += grad(sampled_softmax_objective(enc, {**batch, "neg": neg, "neg_log_q": log_q}, 1.0))

    def cosine(a: torch.Tensor) -> float:
        return float(torch.nn.functional.cosine_similarity(a / reps, g_full, dim=0))

    def rel_error(a: torch.Tensor) -> float:
        return float((a / reps - g_full).norm() / g_full.norm())

    assert cosine(sums["logq"]) > 0.999 and rel_error(sums["logq"]) < 0.02
    assert rel_error(sums["none"]) > 5 * rel_error(sums["logq"])  # uncorrected: another gradient


def test_evaluation_mask_ranks_history_items_unless_asked() -> None:
    history = Interactions.from_indices([0, 0, 1], [0, 1, 2], n_users=2, n_items=4)
    target = Interactions.from_indices([0, 1], [2, 3], n_users=2, n_items=4)
    scores = torch.tensor([[9.0, 8.0, 1.0, 0.0], [0.0, 1.0, 9.0, 8.0]])  # history items on top
    everything = evaluate(lambda u: scores[u], evaluation_mask(history, False), target, k=1, metrics=("recall",))
    masked = evaluate(lambda u: scores[u], evaluation_mask(history, True), target, k=1, metrics=("recall",))
    assert evaluation_mask(history, False).nnz == 0 and evaluation_mask(history, False).shape == history.shape
    assert everything["recall@1"] == 0.0 and masked["recall@1"] == 1.0


@pytest.fixture(scope="module")
def fitted_mind() -> tuple[Recommender, Interactions]:
    train, valid, _, _ = _split(_sequential_data(n_users=60))
    rec = Recommender(model="mind", **{**SMALL, "epochs": 2, "steps_per_epoch": 5, "n_neg": 20})
    return rec.fit(train, valid=valid, progress=False, accelerator="cpu"), train


def test_save_load_gives_identical_scores(fitted_mind: tuple[Recommender, Interactions], tmp_path: Path) -> None:
    rec, train = fitted_mind
    rec.save(tmp_path / "mind")
    loaded = Recommender.load(tmp_path / "mind")
    assert loaded.config == rec.config and isinstance(loaded.encoder, HistoryModel)
    users = torch.arange(train.n_users)
    assert torch.equal(rec.score_all(users), loaded.score_all(users))
    before = rec.encoder.state_dict()  # type: ignore[union-attr]
    after = loaded.encoder.state_dict()  # type: ignore[union-attr]
    assert torch.equal(before["sequence.routing_init"], after["sequence.routing_init"])  # MIND's eval routing
    raw_users = train.user_vocab.raw[:5].tolist()
    assert rec.recommend(raw_users, k=5).equals(loaded.recommend(raw_users, k=5))
    history = ["i3", "i11", "i4", "i12"]
    assert rec.recommend_history(history, k=5).equals(loaded.recommend_history(history, k=5))


def test_recommend_history_matches_the_known_user_and_refuses_unknown_ids(
        fitted_mind: tuple[Recommender, Interactions]) -> None:
    rec, train = fitted_mind
    seqs = Sequences.from_interactions(train)
    user = 3
    raw_history = train.item_vocab.to_raw(seqs.sequence(user)).tolist()
    by_user = rec.recommend([train.user_vocab.raw[user]], k=6)
    by_history = rec.recommend_history(raw_history, k=6)
    assert by_history.columns == ["rank", "item_id", "score"]
    assert by_history["item_id"].to_list() == by_user["item_id"].to_list()
    assert np.allclose(by_history["score"].to_numpy(), by_user["score"].to_numpy())
    assert not set(by_history["item_id"].to_list()) & set(raw_history)  # exclude_seen: the history's items
    with_seen = rec.recommend_history(raw_history, k=N_ITEMS, exclude_seen=False)
    assert with_seen.height == N_ITEMS
    assert rec.recommend_history("i5", k=3).height == 3  # one raw id is a history of one item
    with pytest.raises(KeyError, match="unknown item id.*'i999'"):
        rec.recommend_history(["i3", "i999"], k=3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        rec.recommend_history(["i3"], k=0)
    with pytest.raises(ValueError, match="item_ids must be a raw id or a non-empty"):
        rec.recommend_history([], k=3)
    mf = Recommender(model="mf", epochs=1, engine="lightning").fit(train, progress=False, accelerator="cpu")
    with pytest.raises(TypeError, match="recommend_history needs a sequence model"):
        mf.recommend_history(["i3"], k=3)
