"""Semi-synthetic MNAR benchmark from MovieLens-100K, where the truth is known.

    .venv/bin/python benchmarks/semisynthetic_ml100k.py [--seeds 5] [--steps 3000]

Truth: the ratings completed by an explicit MF (ALS, dim 10; observed ratings kept), mapped to
relevance gamma with UBPR's graded map (eps 0.1, so a 5 is relevant for sure and a 1 with
probability 0.1).
Exposure: theta_i = clip((ratings of i / max) ** power, 0.01, 1), so popular films are shown far
more. Clicks: Y = O * R with O ~ Bernoulli(theta), R ~ Bernoulli(gamma), one draw per seed.

Two tables:
1. Ranking quality on a randomly exposed test set: 16 random films per user with fresh
   relevance draws; each user's 16 films are ranked; DCG@K / Recall@K / MAP@K (binary gain).
2. Estimator bias: for fixed scores (the naive model's of that seed), each estimator's loss
   computed over *all* cells from a fresh click draw (independent of the one the model was
   trained on), minus the ideal loss computed from gamma; mean +- std over ``--gap-draws``
   draws per seed, pooled over seeds. An unbiased estimator's gap centres on 0.

Propensities given to the learners: estimated from the clicks (popularity, eta 0.5) or the
true theta ("oracle" rows).
"""

from __future__ import annotations

import argparse
import statistics as st
from typing import Any

import numpy as np
import torch

import data_loaders
from recpref.data import Interactions
from recpref.evaluation import evaluate_candidates
from recpref.losses import doubly_robust_loss, pointwise_ips_loss
from recpref.models import MF
from recpref.modules import MNARDataModule, MNARModule, click_rate_among_exposed
from recpref.propensity import popularity_propensity
from recpref.simulation import SemiSynthetic, complete_ratings, graded_relevance, popularity_exposure

KS = (1, 3, 5)
MODELS: list[tuple[str, str, dict[str, Any], str]] = [
    ("naive MF (BCE)", "naive", {"local": "log"}, "estimated"),
    ("WMF", "wmf", {"negative_weight": 0.5}, "estimated"),
    ("BPR", "bpr", {}, "estimated"),
    ("Rel-MF (clipped, M=0.01)", "relmf", {"local": "squared", "clip": 0.01}, "estimated"),
    ("Rel-MF (oracle theta)", "relmf", {"local": "squared", "clip": 0.01}, "oracle"),
    ("SNIPS", "snips", {"local": "squared", "clip": 0.01}, "estimated"),
    ("DR (oracle theta)", "dr", {"local": "squared", "clip": 0.01}, "oracle"),
    ("UBPR", "ubpr", {}, "estimated"),
    ("UBPR (non-negative)", "ubpr", {"nonneg": 0.005}, "estimated"),
]


def _mar_test(sim: SemiSynthetic, seed: int, per_user: int = 16) -> Interactions:
    rng = np.random.default_rng(10_000 + seed)
    n_u, n_i = sim.shape
    items = np.stack([rng.choice(n_i, per_user, replace=False) for _ in range(n_u)])
    users = np.repeat(np.arange(n_u), per_user)
    rel = rng.random(items.shape) < sim.gamma[np.arange(n_u)[:, None], items]
    return Interactions.from_indices(users, items.ravel(), n_users=n_u, n_items=n_i,
                                     weights=1.0 + rel.ravel().astype(np.float64))


def _train(loss: str, kwargs: dict[str, Any], clicks: Interactions, theta: np.ndarray, exposed: np.ndarray,
           seed: int, steps: int, dim: int) -> MNARModule:
    from recpref.training.lightning_engine import make_trainer, run_fit

    torch.manual_seed(seed)  # a script: seeding the process is its call
    extra = dict(kwargs)
    if loss == "dr":
        u, i = np.nonzero(exposed)
        exposure = Interactions.from_indices(u, i, n_users=clicks.n_users, n_items=clicks.n_items)
        extra.update(exposure=exposure, imputed=click_rate_among_exposed(clicks, exposure))
    module = MNARModule(MF(clicks.n_users, clicks.n_items, dim, init="xavier"), loss, theta,  # type: ignore[arg-type]
                        lr=1e-3, reg=1e-5, **extra)
    dm = MNARDataModule(clicks, loss, batch_size=1024, steps_per_epoch=steps, seed=seed)  # type: ignore[arg-type]
    run_fit(make_trainer(max_epochs=1, accelerator="cpu"), module, dm)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--power", type=float, default=1.0, help="exposure skew")
    parser.add_argument("--gap-draws", type=int, default=20, help="fresh click draws per seed for the bias table")
    args = parser.parse_args()
    ds = data_loaders.load("ml-100k")
    data = ds.interactions
    ratings = np.zeros(data.shape)
    ratings[data.rows, data.indices] = ds.extras["ratings"]  # aligned with the stored (CSR) order
    gamma = graded_relevance(complete_ratings(ratings, dim=10, seed=0), eps=0.1)
    sim = SemiSynthetic(gamma, popularity_exposure(data.item_counts.astype(float), power=args.power, floor=0.01))
    print(f"# ml-100k semi-synthetic: {sim.shape[0]} users x {sim.shape[1]} items; mean gamma {gamma.mean():.4f}; "
          f"theta in [{sim.theta.min():.3f}, {sim.theta.max():.3f}] (power {args.power}); {args.seeds} seeds, "
          f"{args.steps} steps of batch 1024, dim {args.dim}, Adam 1e-3", flush=True)
    ranking: dict[str, dict[str, list[float]]] = {}
    gaps: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        draw = sim.draw(seed)
        clicks = draw.to_interactions()
        est = popularity_propensity(clicks, eta=0.5)
        test = _mar_test(sim, seed)
        naive_scores: torch.Tensor | None = None
        for name, loss, kw, which in MODELS:
            theta = sim.theta if which == "oracle" else est
            if loss == "dr":
                theta = np.broadcast_to(sim.theta, sim.shape)
            module = _train(loss, kw, clicks, theta, draw.exposed, seed, args.steps, args.dim)
            r = evaluate_candidates(module.score_all, test, k=KS, metrics=("dcg", "recall", "map"),
                                    relevance_threshold=2.0)
            for key, value in r.metrics.items():
                ranking.setdefault(name, {}).setdefault(key, []).append(value)
            if loss == "naive":
                naive_scores = module.score_all(torch.arange(sim.shape[0])).double()
        print(f"seed {seed}: clicks {clicks.nnz}; " + ", ".join(
            f"{n} {ranking[n]['dcg@5'][-1]:.3f}" for n, *_ in MODELS), flush=True)
        assert naive_scores is not None
        s = naive_scores
        ideal = sim.ideal_loss(s, "squared")
        th_true = torch.as_tensor(sim.theta_matrix().copy())
        for extra in range(args.gap_draws):
            fresh = sim.draw(1_000_000 + seed * 1000 + extra)
            y = torch.as_tensor(fresh.clicks, dtype=torch.float64)
            o = torch.as_tensor(fresh.exposed, dtype=torch.float64)
            est_fresh = popularity_propensity(fresh.to_interactions(), eta=0.5)
            th_est = torch.as_tensor(np.broadcast_to(est_fresh, sim.shape).copy())
            rate = float(fresh.clicks.sum()) / max(int(fresh.exposed.sum()), 1)
            estimators = {
                "naive (theta = 1)": pointwise_ips_loss(s, y, torch.ones_like(s), local="squared"),
                "IPS (Rel-MF), true theta": pointwise_ips_loss(s, y, th_true, local="squared"),
                "IPS, true theta clipped at 0.05": pointwise_ips_loss(s, y, th_true, clip=0.05, local="squared"),
                "IPS, theta estimated from click popularity": pointwise_ips_loss(s, y, th_est, local="squared"),
                "SNIPS, true theta": pointwise_ips_loss(s, y, th_true, local="squared", normalize="snips"),
                "DR, true theta, constant imputation": doubly_robust_loss(s, o, y, th_true,
                                                                          torch.full_like(s, rate), local="squared"),
            }
            for key, value in estimators.items():
                gaps.setdefault(key, []).append((float(value) - ideal) / ideal)

    def cell(v: list[float]) -> str:
        return f"{st.mean(v):.4f} +- {st.stdev(v) if len(v) > 1 else 0.0:.4f}"

    cols = [f"{m}@{k}" for m in ("dcg", "recall", "map") for k in KS]
    print("\n| model | " + " | ".join(c.replace("dcg", "DCG").replace("recall", "Recall").replace("map", "MAP")
                                       for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, res in ranking.items():
        print(f"| {name} | " + " | ".join(cell(res[c]) for c in cols) + " |")
    print("\n(estimated - ideal) / ideal loss, squared local loss over all cells, fresh click draws:\n")
    print("| estimator | relative gap, mean +- std | mean / standard error |")
    print("|---|---|---|")
    for key, v in gaps.items():
        z = st.mean(v) / (st.stdev(v) / len(v) ** 0.5) if len(v) > 1 and st.stdev(v) > 0 else float("nan")
        print(f"| {key} | {st.mean(v):+.2%} +- {st.stdev(v) if len(v) > 1 else 0.0:.2%} | {z:+.1f} |")


if __name__ == "__main__":
    main()
