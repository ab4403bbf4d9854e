"""Named benchmark rows with pinned settings.

Peer settings come from `benchmarks/tune_peers_ml100k.py` (grid search on a validation split
carved from the training part; never the test part) — see docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names must be importable without torch (CLI --help)
    from recpref.benchmarking.base import Runner


@dataclass(frozen=True)
class RunnerSpec:
    key: str
    description: str
    build: Callable[[bool], Runner]  # quick -> runner


def _baseline(name: str) -> Callable[[bool], Runner]:
    def build(quick: bool) -> Runner:
        import recpref.baselines

        runner: Runner = getattr(recpref.baselines, name)()
        return runner

    return build


def _implicit_bpr(quick: bool) -> Runner:
    from recpref.benchmarking.implicit_runner import ImplicitBPR

    return ImplicitBPR(factors=64, learning_rate=0.001, regularization=0.0, iterations=10 if quick else 400)


def _implicit_als(quick: bool) -> Runner:
    from recpref.benchmarking.implicit_runner import ImplicitALS

    return ImplicitALS(factors=32, regularization=30.0, alpha=3.0, iterations=3 if quick else 60)


def _recbole_bpr(quick: bool) -> Runner:
    from recpref.benchmarking.recbole_runner import RecBoleBPR

    return RecBoleBPR(epochs=2 if quick else 100, batch_size=2048, lr=1e-3, dim=64)


def _recpref_mf(loss: str, engine: str = "lightning") -> Callable[[bool], Runner]:
    def build(quick: bool) -> Runner:
        from recpref.benchmarking.recpref_runner import RecprefRunner

        # Same settings as the RecBole row: 100 epochs, batch 2048, Adam 1e-3, dim 64, no L2.
        return RecprefRunner.from_settings(model="mf", loss=loss, epochs=2 if quick else 100, batch_size=2048, lr=1e-3,
                                           dim=64, reg=0.0, engine=engine)

    return build


def _recpref_ssm(quick: bool) -> Runner:
    from recpref.benchmarking.recpref_runner import RecprefRunner

    # temperature, lr and epochs chosen on a validation carve-out of train
    # (benchmarks/tune_recpref_ml100k.py --rows mf-ssm); one shared pool of 256 items per step
    return RecprefRunner.from_settings(model="mf", loss="ssm", neg_pool=256, temperature=0.8,
                                       epochs=2 if quick else 50, batch_size=2048, lr=1e-3, dim=64, reg=0.0)


def _recpref_lightgcn(quick: bool) -> Runner:
    from recpref.benchmarking.recpref_runner import RecprefRunner

    # lr chosen on a validation carve-out of train (benchmarks/tune_recpref_ml100k.py)
    return RecprefRunner.from_settings(model="lightgcn", loss="bpr", epochs=2 if quick else 50, batch_size=2048,
                                       lr=5e-3, dim=64, reg=1e-4, n_layers=3)


RUNNERS: dict[str, RunnerSpec] = {
    spec.key: spec
    for spec in (
        RunnerSpec("popularity", "most popular items (training counts)", _baseline("MostPopular")),
        RunnerSpec("random", "uniform random ranking (seeded hash)", _baseline("RandomScorer")),
        RunnerSpec("implicit-bpr", "implicit BPR (CPU), tuned settings", _implicit_bpr),
        RunnerSpec("implicit-als", "implicit ALS (CPU), confidence scaling, tuned", _implicit_als),
        RunnerSpec("recpref-bpr-mf-fused", "recpref MF + BPR, fused numba CPU kernel (same batches and updates)",
                   _recpref_mf("bpr", "fused")),
        RunnerSpec("recpref-bpr-mf", "recpref MF + BPR under Lightning (same settings as the RecBole row)",
                   _recpref_mf("bpr")),
        RunnerSpec("recpref-bpo-mf", "recpref MF + BPO (same settings)", _recpref_mf("bpo")),
        RunnerSpec("recpref-nbpo-mf", "recpref MF + NBPO surrogate loss (same settings)", _recpref_mf("nbpo")),
        RunnerSpec("recpref-ssm-mf", "recpref MF + sampled softmax, a shared pool of 256 negatives per step "
                   "(temperature 0.8, 50 epochs, Adam 1e-3; tuned)", _recpref_ssm),
        RunnerSpec("recpref-lightgcn", "recpref LightGCN + BPR (3 layers, 50 epochs, Adam 5e-3)",
                   _recpref_lightgcn),
        RunnerSpec("recbole-bpr", "RecBole 1.2.1 BPR (100 epochs, batch 2048, Adam 1e-3, dim 64)", _recbole_bpr),
    )
}


def build_runners(keys: list[str], quick: bool = False) -> list[Runner]:
    unknown = [k for k in keys if k not in RUNNERS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {list(RUNNERS)}")
    return [RUNNERS[k].build(quick) for k in keys]
