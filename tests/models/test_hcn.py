"""HCN (our re-interpretation, `recpref.models.hcn`) and `rerank`: shapes, padding and layout
invariance, empty histories, a slow per-user reference of the extraction and the fusion,
gradients, the coarse-ranker scores, config validation, training + save/load through
`Recommender`, and the CLI. The shared encoder contract runs in tests/models/test_multi_interest.py."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from recpref.cli import build_parser, main
from recpref.cli_sequences import sequence_settings
from recpref.data import Interactions, Vocabulary
from recpref.models import HCN, MIND, ComiRecSA, HistoryModel, MeanPooling, SequenceEncoder, rerank
from recpref.models.hcn import HierarchicalExtractor, soft_cluster
from recpref.serving import Recommender, RecommenderConfig
from recpref.training import SequenceModelConfig, settings_from_flat
from recpref.training.encoders import SEQUENCE_ENCODERS

N_ITEMS, DIM, K, K1, MAX_LEN, SHORT = 13, 6, 3, 5, 8, 3

ROWS = [[3, 1, 4, 1, 5, 9, 2], [9, 2], [6], [], [0, 12, 7, 7, 11], [8, 3, 0, 4]]  # oldest first


def _hcn(seed: int = 0, **kwargs: object) -> HCN:
    torch.manual_seed(seed)
    settings: dict[str, object] = {"n_interests": K, "max_len": MAX_LEN, "short_len": SHORT, "level1_interests": K1,
                                   "init_std": 0.5, **kwargs}
    model = HCN(N_ITEMS, DIM, **settings).double().eval()  # type: ignore[arg-type]
    with torch.no_grad():  # behaviour maps away from their identity initialisation
        model.extractor.behaviour_maps.add_(0.3 * torch.randn(2, DIM, DIM, dtype=torch.float64))
    return model


def layout(rows: list[list[int]], t: int, kind: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """rows -> (history (B, t), mask (B, t)) padded on the left, the right, or with the real
    items scattered in order among pads ('gaps'); pads get random ids in [0, n_items]."""
    hist = torch.randint(0, N_ITEMS + 1, (len(rows), t), generator=gen)
    mask = torch.zeros(len(rows), t, dtype=torch.bool)
    for r, items in enumerate(rows):
        n = len(items)
        cols = (list(range(t - n, t)) if kind == "left" else list(range(n)) if kind == "right"
                else sorted(torch.randperm(t, generator=gen)[:n].tolist()))
        for c, item in zip(cols, items):
            hist[r, c], mask[r, c] = item, True
    return hist, mask


# ---------------------------------------------------------------------------- slow reference
def _cluster_reference(points: list[torch.Tensor], weights: list[float], init: torch.Tensor, n_iterations: int,
                       tau: float) -> tuple[list[torch.Tensor], list[float]]:
    """One user, point by point and centre by centre: soft spherical k-means from normalise(init)."""
    k_, d = init.shape
    centres = [init[k] / init[k].norm() for k in range(k_)]
    sums, mass = [torch.zeros(d, dtype=torch.float64)] * k_, [0.0] * k_
    for _ in range(n_iterations):
        sums, mass = [torch.zeros(d, dtype=torch.float64) for _ in range(k_)], [0.0] * k_
        for p, w in zip(points, weights):
            logits = [float(p @ c) / tau for c in centres]
            top = max(logits)
            z = sum(math.exp(x - top) for x in logits)
            for k in range(k_):
                a = math.exp(logits[k] - top) / z * w
                sums[k] = sums[k] + a * p
                mass[k] += a
        centres = [s / s.norm() if float(s.norm()) > 0 else s for s in sums]
    return [s / max(m, 1e-12) for s, m in zip(sums, mass)], mass


def _extract_reference(ext: HierarchicalExtractor, s: int, emb: list[torch.Tensor]) -> list[torch.Tensor]:
    """Sequence ``s``'s parameters (HCN: 0 long, 1 short) on one user's real items."""
    points = [ext.behaviour_maps[s] @ e for e in emb]
    means, mass = _cluster_reference(points, [1.0] * len(points), ext.level1_init[s], ext.n_iterations, ext.tau)
    interests, _ = _cluster_reference(means, mass, ext.level2_init[s], ext.n_iterations, ext.tau)
    return interests


def hcn_reference(model: HCN, history: torch.Tensor, mask: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(long, short, fused) interests (B, K, d) user by user, from the real items in order (any layout)."""
    b_ = history.shape[0]
    out = [torch.zeros(b_, model.n_interests, model.dim, dtype=torch.float64) for _ in range(3)]
    for b in range(b_):
        real = [int(history[b, t]) for t in range(history.shape[1]) if mask[b, t]]
        if not real:
            continue
        emb = [model.item_emb.weight[i] for i in real]
        long = _extract_reference(model.extractor, 0, emb)
        short = _extract_reference(model.extractor, 1, emb[-model.short_len:])
        for k in range(model.n_interests):
            aff = [float((model.co_attention.weight @ long[k]) @ s) / math.sqrt(model.dim) for s in short]
            top = max(aff)
            w = [math.exp(a - top) for a in aff]
            att = sum(wj / sum(w) * s for wj, s in zip(w, short))
            assert isinstance(att, torch.Tensor)
            g = torch.sigmoid(model.gate.weight @ torch.cat([long[k], att]) + model.gate.bias)
            out[0][b, k], out[1][b, k], out[2][b, k] = long[k], short[k], g * long[k] + (1 - g) * att
    return out[0], out[1], out[2]


@pytest.mark.parametrize(("kind", "t"), [("left", MAX_LEN), ("right", 7), ("gaps", MAX_LEN)])
def test_interests_equal_the_slow_reference(kind: str, t: int) -> None:
    model = _hcn(1)
    h, m = layout(ROWS, t, kind, torch.Generator().manual_seed(2))
    with torch.no_grad():
        long, short, fused = hcn_reference(model, h, m)
        got_long, got_short = model.interest_sets(h, m)
        torch.testing.assert_close(got_long, long)
        torch.testing.assert_close(got_short, short)
        v, im = model.interests(h, m)
        torch.testing.assert_close(v, fused)
    assert im.all()


def test_soft_cluster_is_a_weighted_soft_k_means() -> None:
    gen = torch.Generator().manual_seed(3)
    points = torch.randn(2, 6, DIM, generator=gen, dtype=torch.float64)
    weights = torch.tensor([[1, 1, 0, 1, 0.5, 2], [0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    init = torch.randn(4, DIM, generator=gen, dtype=torch.float64)
    means, mass = soft_cluster(points, weights, init, 3, 0.5)
    ref_means, ref_mass = _cluster_reference(list(points[0]), weights[0].tolist(), init, 3, 0.5)
    torch.testing.assert_close(means[0], torch.stack(ref_means))
    torch.testing.assert_close(mass[0], torch.tensor(ref_mass, dtype=torch.float64))
    torch.testing.assert_close(mass[0].sum(), weights[0].sum())  # every point's weight is shared out
    assert torch.count_nonzero(means[1]) == 0 and torch.count_nonzero(mass[1]) == 0  # no weight: zeros, no NaN


# ---------------------------------------------------------------------------- conventions
def test_shapes() -> None:
    model = _hcn()
    h, m = layout(ROWS, MAX_LEN, "left", torch.Generator().manual_seed(0))
    v, im = model.interests(h, m)
    assert v.shape == (len(ROWS), K, DIM) and im.shape == (len(ROWS), K) and im.dtype == torch.bool
    long, short = model.interest_sets(h, m)
    assert long.shape == short.shape == (len(ROWS), K, DIM)
    assert model.extractor.level1_init.shape == (2, K1, DIM) and model.extractor.level2_init.shape == (2, K, DIM)
    assert model.score_all(h, m).shape == (len(ROWS), N_ITEMS)
    assert model.score(h, m, torch.zeros(len(ROWS), 4, dtype=torch.int64)).shape == (len(ROWS), 4)
    assert rerank(model, h, m, torch.zeros(len(ROWS), 4, dtype=torch.int64)).shape == (len(ROWS), 4)


def test_padding_and_layout_never_change_the_interests() -> None:
    model = _hcn(4)
    gen = torch.Generator().manual_seed(5)
    ref = model.interests(*layout(ROWS, 7, "left", gen))
    ref_sets = model.interest_sets(*layout(ROWS, 7, "left", gen))
    with torch.no_grad():
        model.item_emb.weight[N_ITEMS].normal_(generator=gen)  # the pad row is masked, not assumed 0
    for t, kind in [(7, "left"), (7, "right"), (MAX_LEN, "left"), (MAX_LEN, "right"), (MAX_LEN, "gaps"),
                    (7, "gaps")]:
        h, m = layout(ROWS, t, kind, gen)  # new random ids at every pad
        got = model.interests(h, m)
        assert torch.equal(got.mask, ref.mask)
        torch.testing.assert_close(got.vectors, ref.vectors, rtol=1e-12, atol=1e-12, msg=f"{t} {kind}")
        for a, b in zip(model.interest_sets(h, m), ref_sets):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_short_sequence_is_the_last_short_len_real_items() -> None:
    model = _hcn(6)
    gen = torch.Generator().manual_seed(7)
    old = [[3, 1, 4, 1, 5, 9, 2], [5, 5, 8, 0, 1]]
    new = [[7, 7, 7, 7, 5, 9, 2], [2, 8, 0, 1]]  # the same last SHORT = 3 items, older ones differ
    with torch.no_grad():
        long_a, short_a = model.interest_sets(*layout(old, MAX_LEN, "gaps", gen))
        long_b, short_b = model.interest_sets(*layout(new, MAX_LEN, "right", gen))
        torch.testing.assert_close(short_a, short_b)
        assert not torch.allclose(long_a[0], long_b[0])
        # a history no longer than short_len: both sequences are the whole history
        for p in model.extractor.parameters():  # the short sequence's parameters := the long one's
            p[1] = p[0]
        long_c, short_c = model.interest_sets(*layout([[4, 2, 6], [1]], MAX_LEN, "left", gen))
        torch.testing.assert_close(long_c, short_c)
    wide = _hcn(6, short_len=50)  # short_len beyond max_len: the whole window
    assert torch.equal(wide.short_mask(torch.ones(2, MAX_LEN, dtype=torch.bool)), torch.ones(2, MAX_LEN, dtype=torch.bool))


def test_empty_history_scores_zero_without_nan() -> None:
    model = _hcn(8).train()
    h, m = layout(ROWS, MAX_LEN, "left", torch.Generator().manual_seed(9))
    v, im = model.interests(h, m)
    assert torch.count_nonzero(v[3]) == 0 and im[3].all()
    with torch.no_grad():
        scores = model.score_all(h, m)
        assert torch.isfinite(scores).all() and torch.count_nonzero(scores[3]) == 0
        cands = torch.randint(0, N_ITEMS, (len(ROWS), 5), generator=torch.Generator().manual_seed(1))
        assert torch.count_nonzero(rerank(model, h, m, cands)[3]) == 0
    all_empty = torch.zeros_like(m)
    v0, _ = model.interests(h, all_empty)
    assert torch.count_nonzero(v0) == 0
    (v0.sum() + (v * v).sum()).backward()  # the empty rows' zero centres give finite gradients
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_gradient_reaches_every_parameter() -> None:
    model = _hcn(10).train()
    h, m = layout(ROWS, MAX_LEN, "left", torch.Generator().manual_seed(11))
    v, im = model.interests(h, m)
    targets = torch.tensor([0, 1, 2, 3, 4, 5])
    u = model.readout(v, im, model.item_emb(targets))
    torch.nn.functional.cross_entropy(u @ model.item_emb.weight[:N_ITEMS].T, targets).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert torch.count_nonzero(p.grad) > 0, f"no gradient reaches {name}"
    grad = model.item_emb.weight.grad
    assert grad is not None and torch.count_nonzero(grad[N_ITEMS]) == 0


@pytest.mark.parametrize(("factory", "match"), [
    (lambda: HCN(5, short_len=0), "short_len must be an integer >= 1"),
    (lambda: HCN(5, n_interests=4, level1_interests=3), "level1_interests must be an integer >= 4"),
    (lambda: HCN(5, n_iterations=0), "n_iterations must be an integer >= 1"),
    (lambda: HCN(5, tau=0.0), "tau must be a finite number in"),
    (lambda: HCN(5, n_interests=0), "n_interests must be an integer >= 1"),
    (lambda: HCN(5, level1_interests=0), "level1_interests must be an integer >= 4"),
])
def test_constructor_validation(factory: Callable[[], HCN], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()
    assert HCN(5, n_interests=3).level1_interests == 6  # default: 2 K level-1 clusters


# ---------------------------------------------------------------------------- rerank
def test_rerank_with_max_pooling_is_the_encoders_score() -> None:
    h, m = layout(ROWS, MAX_LEN, "right", torch.Generator().manual_seed(12))
    cands = torch.randint(0, N_ITEMS, (len(ROWS), 6), generator=torch.Generator().manual_seed(13))
    torch.manual_seed(0)
    plain: list[SequenceEncoder] = [MeanPooling(N_ITEMS, DIM, max_len=MAX_LEN).double(),
                                    ComiRecSA(N_ITEMS, DIM, n_interests=K, max_len=MAX_LEN).double()]
    with torch.no_grad():
        for enc in plain:  # default pooling of a plain encoder: its own score
            assert torch.equal(rerank(enc, h, m, cands), enc.score(h, m, cands))
        model = _hcn(14)
        assert torch.equal(rerank(model, h, m, cands, pooling="max"), model.score(h, m, cands))


def test_rerank_attention_pooling_reference() -> None:
    model = _hcn(15)
    h, m = layout(ROWS, MAX_LEN, "left", torch.Generator().manual_seed(16))
    cands = torch.randint(0, N_ITEMS, (len(ROWS), 4), generator=torch.Generator().manual_seed(17))
    with torch.no_grad():
        got = rerank(model, h, m, cands)  # HCN's default: target-aware attention pooling
        assert torch.equal(got, rerank(model, h, m, cands, pooling="attention"))
        v, _ = model.interests(h, m)
        for b in range(len(ROWS)):
            for c in range(4):
                s = [float(v[b, k] @ model.item_emb.weight[cands[b, c]]) for k in range(K)]
                w = [math.exp(x) for x in s]
                assert math.isclose(float(got[b, c]), sum(wk * x for wk, x in zip(w, s)) / sum(w), abs_tol=1e-12)
        assert (got <= model.score(h, m, cands) + 1e-12).all()  # a smooth lower bound of the max
        # another encoder with inactive interests (MIND's dynamic K): they take no part
        torch.manual_seed(0)
        mind = MIND(N_ITEMS, DIM, n_interests=4, max_len=MAX_LEN).double().eval()
        mv, mim = mind.interests(h, m)
        assert not mim.all()
        pooled = rerank(mind, h, m, cands, pooling="attention")
        ms = torch.einsum("bkd,bcd->bkc", mv, mind.item_emb(cands))
        mw = torch.softmax(ms.masked_fill(~mim.unsqueeze(-1), -math.inf), dim=1)
        torch.testing.assert_close(pooled, (mw * ms).sum(1))


def test_rerank_refuses_bad_input() -> None:
    model = _hcn()
    h, m = layout(ROWS, MAX_LEN, "left", torch.Generator().manual_seed(18))
    with pytest.raises(ValueError, match="candidates must be int64 of shape"):
        rerank(model, h, m, torch.zeros(len(ROWS), dtype=torch.int64))
    with pytest.raises(ValueError, match="candidates must be int64 of shape"):
        rerank(model, h, m, torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="out of range"):
        rerank(model, h, m, torch.full((len(ROWS), 2), N_ITEMS))
    with pytest.raises(ValueError, match="pooling must be one of max, attention"):
        rerank(model, h, m, torch.zeros(len(ROWS), 2, dtype=torch.int64), pooling="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask must be a bool"):
        rerank(model, h, m.long(), torch.zeros(len(ROWS), 2, dtype=torch.int64))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    model = _hcn(19)
    h, m = layout(ROWS, MAX_LEN, "gaps", torch.Generator().manual_seed(20))
    cands = torch.randint(0, N_ITEMS, (len(ROWS), 4), generator=torch.Generator().manual_seed(21))
    with torch.no_grad():
        cpu = (model.interests(h, m).vectors, model.score_all(h, m), rerank(model, h, m, cands))
        model.cuda()
        dev = torch.device("cuda")
        gpu = (model.interests(h.to(dev), m.to(dev)).vectors, model.score_all(h.to(dev), m.to(dev)),
               rerank(model, h.to(dev), m.to(dev), cands.to(dev)))
    for a, b in zip(cpu, gpu):
        assert b.device.type == "cuda"
        torch.testing.assert_close(b.cpu(), a)
    model.train()
    v, im = model.interests(h.to(dev), m.to(dev))
    (model.readout(v, im, model.item_emb(cands[:, 0].to(dev)))).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# ---------------------------------------------------------------------------- config, training, CLI
@pytest.mark.parametrize(("settings", "match"), [
    ({"model": "hcn", "short_len": 0}, "short_len must be an integer >= 1; got 0"),
    ({"model": "hcn", "level1_interests": 0}, "level1_interests must be an integer >= 1"),
    ({"model": "hcn", "n_interests": 6, "level1_interests": 5},
     "level1_interests must be an integer >= n_interests = 6; got 5"),
    ({"model": "hcn", "n_interests": 2, "level1_interests": 1}, "level1_interests must be an integer >= n_interests"),
    ({"model": "mean", "short_len": 5}, "short_len applies to model hcn, not 'mean'"),
    ({"model": "mind", "level1_interests": 8}, "level1_interests applies to model hcn, not 'mind'"),
    ({"model": "hcn", "power": 2.0}, "power applies to model mind, not 'hcn'"),
    ({"model": "hcn", "dropout": 0.1}, "dropout applies to model sasrec, not 'hcn'"),
    ({"model": "hcn", "attention_dim": 8}, "attention_dim applies to model comirec-sa, not 'hcn'"),
])
def test_config_validation(settings: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        settings_from_flat(**settings)


def test_config_defaults_and_construction() -> None:
    model_cfg, _ = settings_from_flat(model="hcn", dim=8, max_len=12, n_iterations=2)
    assert isinstance(model_cfg, SequenceModelConfig)
    assert model_cfg.setting("short_len") == 20 and model_cfg.setting("n_interests") == 4
    enc = SEQUENCE_ENCODERS["hcn"](model_cfg, 30)
    assert isinstance(enc, HCN) and (enc.n_interests, enc.level1_interests, enc.short_len) == (4, 8, 20)
    assert enc.n_iterations == 2 and enc.max_len == 12 and enc.dim == 8
    wide, _ = settings_from_flat(model="hcn", n_interests=6)  # level-1 clusters default to 2 K
    assert isinstance(wide, SequenceModelConfig)
    wide_enc = SEQUENCE_ENCODERS["hcn"](wide, 30)
    assert isinstance(wide_enc, HCN) and wide_enc.level1_interests == 12


N_CLUSTERS, CLUSTER = 4, 6


def _toy_sequences(n_users: int = 40, seed: int = 0) -> Interactions:
    """Each user walks one item cluster in order (i, i + 1, ... mod the cluster); timestamps = position."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        c, start = int(rng.integers(N_CLUSTERS)), int(rng.integers(CLUSTER))
        for t in range(int(rng.integers(4, CLUSTER + 1))):
            users.append(f"u{u}")
            items.append(f"i{c * CLUSTER + (start + t) % CLUSTER}")
            times.append(t)
    vocab = Vocabulary(np.array([f"i{j}" for j in range(N_CLUSTERS * CLUSTER)], dtype=object))
    return Interactions.from_raw(users, items, timestamps=np.asarray(times, dtype=np.float64), item_vocab=vocab)


def test_tiny_training_then_save_and_load_give_identical_scores(tmp_path: Path) -> None:
    train = _toy_sequences()
    rec = Recommender(model="hcn", dim=8, max_len=5, short_len=2, level1_interests=4, n_interests=2, n_iterations=2,
                      epochs=2, steps_per_epoch=3, batch_size=16, n_neg=10, lr=1e-2)
    rec.fit(train, progress=False, accelerator="cpu")
    assert isinstance(rec.encoder, HistoryModel) and isinstance(rec.encoder.sequence, HCN)
    before = {k: v.clone() for k, v in rec.encoder.state_dict().items()}
    assert rec.encoder.sequence.short_len == 2 and rec.encoder.sequence.level1_interests == 4
    assert len(rec.history) == 2
    rec.save(tmp_path / "hcn")
    loaded = Recommender.load(tmp_path / "hcn")
    assert loaded.config == rec.config and loaded.config.model.model == "hcn"
    assert isinstance(loaded.encoder, HistoryModel)
    after = loaded.encoder.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)
    users = torch.arange(train.n_users)
    scores = rec.score_all(users)
    assert torch.isfinite(scores).all()
    assert torch.equal(scores, loaded.score_all(users))
    raw_users = train.user_vocab.raw[:4].tolist()
    assert rec.recommend(raw_users, k=3).equals(loaded.recommend(raw_users, k=3))
    history = ["i1", "i2", "i3"]
    assert rec.recommend_history(history, k=4).equals(loaded.recommend_history(history, k=4))


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["train", "--dataset", "no-such-dataset", *argv])


def test_cli_accepts_model_hcn_and_its_flags(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["--model", "hcn", "--loss", "ssm", "--short-len", "5", "--level1-interests", "6", "--interests", "3",
                   "--routing-iterations", "2", "--max-len", "30"])
    config = RecommenderConfig.of(**sequence_settings(args))
    model = config.model
    assert isinstance(model, SequenceModelConfig) and model.model == "hcn" and model.max_len == 30
    assert (model.short_len, model.level1_interests, model.n_interests, model.n_iterations) == (5, 6, 3, 2)
    with pytest.raises(SystemExit) as exc:  # every flag accepted: it stops at the unknown dataset
        main(["train", "--dataset", "no-such-dataset", "--model", "hcn", "--short-len", "5", "--no-progress"])
    assert exc.value.code == 2
    assert "unknown dataset 'no-such-dataset'" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "mean", "--short-len", "5"], r"(--)?short[-_]len applies to model hcn, not 'mean'"),
    (["--model", "sasrec", "--level1-interests", "5"], r"(--)?level1[-_]interests applies to model hcn"),
    (["--model", "hcn", "--short-len", "0"], r"(--)?short[-_]len must be an integer >= 1; got 0"),
    (["--model", "hcn", "--power", "2"], r"--power applies to model mind, not 'hcn'"),
])
def test_cli_refuses_hcn_flags_in_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "no-such-dataset", *argv, "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err
