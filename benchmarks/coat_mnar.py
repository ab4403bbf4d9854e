"""Coat: learning from MNAR clicks, evaluated on the randomly exposed (MAR) test set.

    .venv/bin/python benchmarks/coat_mnar.py [--seeds 10] [--steps 1001] [--plot docs/results/coat_mnar.png]
    .venv/bin/python benchmarks/coat_mnar.py --tune   # pick L2 and steps per row on held-out clicks first

With ``--tune``, each row's L2 in {0, 1e-3, 1e-2, 0.1, 0.3, 1} and number of steps in
{301, 1001, 2001, 3001, 5001, 10001} are chosen on a validation carve-out of the *train clicks*
(20% of each user's clicks, seed 1), by SNIPS-DCG@5 (each held-out click weighted by 1/theta with
the popularity propensities of the remaining clicks, full ranking minus train items), one seed
per setting; the test set is never used for selection. The step counts are checkpoints of one
run per L2 (the batch stream of a shorter run is a prefix of a longer one's, so the model at a
checkpoint is the model a run of that length gives); a run stops once two checkpoints in a row
score below its best. The chosen setting is then trained on all train clicks over the seeds.

Train: Coat's self-selected ratings, rating >= 4 = click (1,905 clicks, 290 users x 300 items).
Test: the 16 randomly shown coats per user; each user's shown items are ranked by the model and
an item is relevant when rated >= 4 (binary gain). DCG@K (log2 discount, not normalised),
Recall@K, MAP@K for K in {1, 3, 5}, mean +- std over training seeds; plus the same metrics on
rare items only (shown items with at most the median number of train clicks, ranked among
the user's shown rare items).

Settings (methods.md 2.2, UBPR's Coat tuning): Adam lr 1e-3, batch 256, ``--steps`` steps;
dim / L2 per model: BPR 260 / 3.9e-6, UBPR 300 / 3.5e-5 (non-negative beta 0.008), Rel-MF 300 /
1.4e-6 (M 0.0028 with Coat's own propensities; with popularity propensities, whose minimum
on Coat is 0.059, that M never binds, so the clipped row uses M = 0.1), WMF 140 / 5.2e-7
(negative weight 0.886); naive, SNIPS and DR use Rel-MF's. L2 here is on the batch's rows
(recpref's convention), not on the full matrices as in UBPR's code, so these L2 values are
not re-tuned for it.
Propensities: sqrt of each item's click rate (UBPR's Coat code), except DR and the
"given theta" Rel-MF row, which use Coat's own P(rated) per cell with exposure = rated cells.
"""

from __future__ import annotations

import argparse
import statistics as st
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import data_loaders
from recpref.data import Interactions
from recpref.evaluation import evaluate_candidates
from recpref.models import MF
from recpref.modules import MNARDataModule, MNARModule, click_rate_among_exposed
from recpref.propensity import popularity_propensity, user_item_propensity

KS = (1, 3, 5)
METRICS = ("dcg", "recall", "map")


@dataclass
class Row:
    name: str
    loss: str
    dim: int
    reg: float
    kwargs: dict[str, Any] = field(default_factory=dict)
    theta: str = "popularity"


ROWS = [
    Row("naive MF (BCE)", "naive", 300, 1.4e-6, {"local": "log"}),
    Row("WMF", "wmf", 140, 5.2e-7, {"negative_weight": 0.886}),
    Row("BPR", "bpr", 260, 3.9e-6),
    Row("Rel-MF (unclipped IPS)", "relmf", 300, 1.4e-6, {"local": "squared"}),
    # with popularity propensities (>= 0.059 on Coat) the tuned M = 0.0028 never binds; 0.1 does
    Row("Rel-MF (clipped, M=0.1)", "relmf", 300, 1.4e-6, {"local": "squared", "clip": 0.1}),
    Row("Rel-MF (given theta)", "relmf", 300, 1.4e-6, {"local": "squared", "clip": 0.0028}, theta="given"),
    Row("SNIPS", "snips", 300, 1.4e-6, {"local": "squared", "clip": 0.0028}),
    Row("DR (given theta)", "dr", 300, 1.4e-6, {"local": "squared", "clip": 0.0028}, theta="given"),
    Row("UBPR", "ubpr", 300, 3.5e-5),
    Row("UBPR (non-negative)", "ubpr", 300, 3.5e-5, {"nonneg": 0.008}),
]


def train_row(row: Row, clicks: Interactions, theta: dict[str, np.ndarray], exposure: Interactions, seed: int,
              steps: int, batch_size: int, callbacks: list[Any] | None = None) -> MNARModule:
    import lightning.pytorch as pl

    pl.seed_everything(seed, verbose=False)
    model = MF(clicks.n_users, clicks.n_items, row.dim, init="xavier")
    extra: dict[str, Any] = dict(row.kwargs)
    if row.loss == "dr":
        extra.update(exposure=exposure, imputed=click_rate_among_exposed(clicks, exposure))
    module = MNARModule(model, row.loss, theta[row.theta], lr=1e-3, reg=row.reg, **extra)  # type: ignore[arg-type]
    dm = MNARDataModule(clicks, row.loss, batch_size=batch_size, steps_per_epoch=steps, seed=seed)  # type: ignore[arg-type]
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=dm)
    return module


L2_GRID = (0.0, 1e-3, 1e-2, 1e-1, 0.3, 1.0)
STEP_CHECKPOINTS = (301, 1001, 2001, 3001, 5001, 10001)


def _checkpoint_scores(score: Any, checkpoints: tuple[int, ...], patience: int = 2) -> Any:
    """A Lightning callback that calls ``score(module)`` after each step count in ``checkpoints``
    and stops the run once ``patience`` checkpoints in a row score below the best so far."""
    import lightning.pytorch as pl

    class CheckpointScores(pl.Callback):
        def __init__(self) -> None:
            self.scores: dict[int, float] = {}

        def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                               batch_idx: int) -> None:
            step = trainer.global_step
            if step not in checkpoints:
                return
            with torch.no_grad():
                self.scores[step] = float(score(pl_module))
            values = list(self.scores.values())
            best = max(values)
            if len(values) > patience and all(v < best for v in values[-patience:]):
                trainer.should_stop = True

    return CheckpointScores()


def tune_row(row: Row, clicks: Interactions, exposure: Interactions, given: np.ndarray, batch_size: int,
             l2_grid: tuple[float, ...] = L2_GRID, checkpoints: tuple[int, ...] = STEP_CHECKPOINTS
             ) -> tuple[Row, int, str]:
    """Best (L2, steps) for ``row`` by validation SNIPS-DCG@5 on held-out train clicks."""
    from recpref.data import random_split
    from recpref.evaluation import evaluate

    inner = random_split(clicks, test_ratio=0.2, seed=1)
    theta = {"popularity": popularity_propensity(inner.train, eta=0.5, normalize="users"), "given": given}
    val_theta = popularity_propensity(inner.train, eta=0.5, normalize="users")

    def score(module: Any) -> float:
        return float(evaluate(module.score_all, inner.train, inner.test, k=5, metrics=("snips_dcg",),
                              propensity=val_theta)["snips_dcg@5"])

    best: tuple[float, float, int] = (-1.0, 0.0, 0)
    report = []
    for reg in l2_grid:
        trial = Row(row.name, row.loss, row.dim, reg, row.kwargs, row.theta)
        cb = _checkpoint_scores(score, checkpoints)
        train_row(trial, inner.train, theta, exposure, 0, max(checkpoints), batch_size, callbacks=[cb])
        for steps, value in cb.scores.items():
            report.append(f"{reg:g}/{steps}:{value:.4f}")
            if value > best[0]:
                best = (value, reg, steps)
    chosen = Row(row.name, row.loss, row.dim, best[1], row.kwargs, row.theta)
    edges = [what for what, value, grid in (("L2", best[1], l2_grid), ("steps", best[2], checkpoints))
             if value in (grid[0], grid[-1])]
    note = f" [at the grid edge: {', '.join(edges)}]" if edges else ""
    return chosen, best[2], " ".join(report) + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1001)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--plot", default=None, help="write a bar chart of DCG@5 (all / rare items) here")
    parser.add_argument("--tune", action="store_true", help="choose L2 and steps per row on held-out train clicks")
    parser.add_argument("--rows", nargs="+", default=None, help="run only the rows whose names start with these")
    args = parser.parse_args()
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    ds = data_loaders.load("coat")
    split = ds.split()
    clicks = split.train
    candidates: Interactions = ds.extras["test_candidates"]
    exposure: Interactions = ds.extras["train_observed"]
    theta = {"popularity": popularity_propensity(clicks, eta=0.5, normalize="users"),
             "given": user_item_propensity(ds.extras["propensities"], clicks)}
    counts = clicks.item_counts
    rare_cut = float(np.median(counts))
    rare_items = counts <= rare_cut
    rare_candidates = candidates.select(rare_items[candidates.indices])
    print(f"# coat: {clicks.nnz} train clicks, {candidates.nnz} shown test cells ({int((candidates.weights >= 4).sum())} "
          f"relevant); rare items: <= {rare_cut:g} train clicks ({int(rare_items.sum())} items); {args.seeds} seeds, "
          f"{args.steps} steps of batch {args.batch_size}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    results: dict[str, dict[str, list[float]]] = {}
    chosen: dict[str, str] = {}
    rows = [r for r in ROWS if args.rows is None or any(r.name.startswith(p) for p in args.rows)]
    if not rows:
        parser.error(f"--rows {args.rows} matches none of {[r.name for r in ROWS]}")
    for row in rows:
        res: dict[str, list[float]] = {}
        steps = args.steps
        if args.tune:
            t_tune = time.perf_counter()
            row, steps, report = tune_row(row, clicks, exposure, theta["given"], args.batch_size)
            chosen[row.name] = f"L2 {row.reg:g}, {steps} steps"
            print(f"  tuned {row.name}: validation SNIPS-DCG@5 by L2/steps {report} -> {chosen[row.name]} "
                  f"({time.perf_counter() - t_tune:.0f} s)", flush=True)
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            module = train_row(row, clicks, theta, exposure, seed, steps, args.batch_size)
            for prefix, cand in (("", candidates), ("rare ", rare_candidates)):
                r = evaluate_candidates(module.score_all, cand, k=KS, metrics=METRICS, relevance_threshold=4.0)
                for key, value in r.metrics.items():
                    res.setdefault(prefix + key, []).append(value)
        results[row.name] = res
        print(f"{row.name:28s} DCG@5 {st.mean(res['dcg@5']):.4f}  Recall@5 {st.mean(res['recall@5']):.4f}  "
              f"rare DCG@5 {st.mean(res['rare dcg@5']):.4f}  ({(time.perf_counter() - t0) / args.seeds:.1f} s/seed)",
              flush=True)

    def cell(values: list[float]) -> str:
        return f"{st.mean(values):.4f} +- {st.stdev(values) if len(values) > 1 else 0.0:.4f}"

    cols = [f"{m}@{k}" for m in METRICS for k in KS]
    if chosen:
        print("\nChosen on validation: " + "; ".join(f"{n}: {c}" for n, c in chosen.items()))
    print("\n| model | " + " | ".join(c.replace("dcg", "DCG").replace("recall", "Recall").replace("map", "MAP")
                                       for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, res in results.items():
        print(f"| {name} | " + " | ".join(cell(res[c]) for c in cols) + " |")
    rare_cols = [f"rare {m}@5" for m in METRICS]
    print("\nRare items (shown items with <= median train clicks):\n")
    print("| model | rare DCG@5 | rare Recall@5 | rare MAP@5 |")
    print("|---|---|---|---|")
    for name, res in results.items():
        print(f"| {name} | " + " | ".join(cell(res[c]) for c in rare_cols) + " |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(results)
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(10, 4))
        for off, key, label in ((-0.2, "dcg@5", "all items"), (0.2, "rare dcg@5", "rare items")):
            means = [st.mean(results[n][key]) for n in names]
            stds = [st.stdev(results[n][key]) if args.seeds > 1 else 0.0 for n in names]
            ax.bar(x + off, means, 0.4, yerr=stds, label=label, capsize=2)
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("DCG@5 on the MAR test set")
        ax.set_title(f"Coat, {args.seeds} seeds (mean +- std)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
