"""Losses against tuned implicit ALS on Gowalla's given split: every method tuned on a
validation carve-out of *train*, then refit on all of train and scored once on test.

    .venv/bin/python benchmarks/gowalla_losses.py [--methods als,mf-bpr,...] [--max-epochs 30]

Protocol. Validation: 10% of each user's train interactions (`random_split`, seed 2020); the
rest fits. Each method starts from a literature setting and is tuned one setting at a time over
an ordered grid (coordinate search, settings in the order listed); a chosen value at a grid's
edge extends the grid one step outward (geometrically) up to ``--max-extensions`` times (2), so the
printed choice is bracketed unless the domain ends there (flagged). SGD methods stop early on
validation NDCG@20 (patience 3, at most ``--max-epochs``; a best epoch at the cap is flagged),
except those with ``lr_schedule`` linear: they train a fixed number of epochs (their ``epochs``)
with the rate decaying to 0, and their last epoch is scored.
Selection: validation NDCG@20 (full ranking, fit items masked). Final: the chosen settings refit
on all of train for the chosen number of epochs (ALS: its sweeps), timed (wall seconds of
`Recommender.fit`), and scored on test: Recall@20 and NDCG@20 with every train item masked
(recpref's `evaluate`: recall = hits in the top 20 / the user's test items; see
`recpref.evaluation.metrics`).
ALS is refit first and last; the time ratio divides by the mean of those two fits.

``--tuning-log LOG`` (repeatable) skips tuning and takes the choices from earlier runs' logs
(tuning can then span runs; the final table is always one run).
``--smoke`` runs the same code on ml-100k with one-value grids and 2 epochs (for the tests).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import data_loaders
from recpref.data import Interactions, random_split
from recpref.evaluation import evaluate
from recpref.serving import Recommender


@dataclass
class Method:
    name: str
    base: dict[str, Any]
    grids: list[tuple[str, list[Any]]]
    sgd: bool = True
    chosen: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    valid_ndcg: float = float("nan")


POOL = 1000  # negatives per positive (SimpleX's ratio), one shared pool per batch

METHODS = [
    Method("als", dict(model="mf", loss="als", dim=256, reg=10.0, alpha=40.0, epochs=15),
           [("dim", [128, 256, 512]), ("reg", [3.0, 10.0, 30.0]), ("alpha", [20.0, 40.0, 80.0])], sgd=False),
    Method("mf-bpr", dict(model="mf", loss="bpr", lr=5e-3, reg=1e-4),
           [("lr", [2e-3, 5e-3, 1e-2]), ("reg", [0.0, 1e-5, 1e-4, 1e-3])]),
    Method("mf-ssm", dict(model="mf", loss="ssm", neg_pool=POOL, temperature=0.1, lr=1e-3, reg=0.0),
           [("temperature", [0.05, 0.1, 0.2]), ("reg", [0.0, 1e-5, 1e-4]), ("lr", [5e-4, 1e-3, 2e-3])]),
    Method("mf-ccl", dict(model="mf", loss="ccl", neg_pool=POOL, margin=0.8, negative_weight=50.0, lr=1e-3, reg=0.0),
           [("margin", [0.6, 0.8, 0.9]), ("negative_weight", [10.0, 50.0, 150.0]), ("lr", [5e-4, 1e-3, 2e-3])]),
    # A cheaper SSM recipe for the CPU time target (at most 3x ALS): its cost settings (dim 128,
    # a pool of 250, batch 8192: half the pool-1000/dim-64 score flops per epoch, a quarter of
    # the steps) are fixed beforehand from the GPU search (docs/results/gpu/run5_*); its loss and
    # optimiser settings are tuned here like every other method's.
    Method("mf-ssm-fast", dict(model="mf", loss="ssm", neg_pool=250, dim=128, batch_size=8192, temperature=1.6,
                               lr=4e-3, reg=0.1),
           [("temperature", [0.8, 1.6, 3.2]), ("lr", [2e-3, 4e-3, 8e-3]), ("reg", [0.03, 0.1, 0.3])]),
    # The same SSM with a pool of 250 at dim 64 and batch 2048 (about a quarter of the pool-1000
    # score flops per step): the other cheap variant for the time target.
    Method("mf-ssm-p250", dict(model="mf", loss="ssm", neg_pool=250, temperature=0.8, lr=2e-3, reg=0.1),
           [("lr", [1e-3, 2e-3, 4e-3]), ("temperature", [0.4, 0.8, 1.6]), ("reg", [0.03, 0.1, 0.3])]),
    # The CPU time target again, from the other side: wider MF converges in far fewer epochs (GPU
    # search, docs/results/gpu/run3_gowalla_gpu_target.log: dim 256 peaks at 17 epochs, dim 64 at
    # 34), and lazy Adam keeps the wider tables' update O(rows touched). dim and optimiser fixed
    # beforehand; lr, temperature and L2 tuned here.
    Method("mf-ssm-wide", dict(model="mf", loss="ssm", neg_pool=POOL, dim=256, optimizer="lazy_adam", temperature=0.8,
                               lr=2e-3, reg=0.1),
           [("lr", [1e-3, 2e-3, 4e-3]), ("temperature", [0.4, 0.8, 1.6]), ("reg", [0.03, 0.1, 0.3])]),
    # The same class under the time target's epoch budget: 3x ALS's ~40 s is about 10 epochs of
    # it on these 2 cores, so it is tuned with --max-epochs 10 (its own tuning log).
    Method("mf-ssm-wide10", dict(model="mf", loss="ssm", neg_pool=POOL, dim=256, optimizer="lazy_adam",
                                 temperature=0.8, lr=2e-3, reg=0.1),
           [("lr", [1e-3, 2e-3, 4e-3]), ("temperature", [0.4, 0.8, 1.6]), ("reg", [0.03, 0.1, 0.3])]),
    # The wide class under a fixed budget of 11 epochs (about 11 s each here: under 3x ALS's ~42 s)
    # with the rate decaying linearly to 0 over them (lr_schedule linear): no early stopping,
    # the last epoch is the one scored, in tuning and in the refit.
    Method("mf-ssm-wide-decay", dict(model="mf", loss="ssm", neg_pool=POOL, dim=256, optimizer="lazy_adam",
                                     lr_schedule="linear", epochs=11, temperature=0.8, lr=4e-3, reg=0.1),
           [("lr", [2e-3, 4e-3, 6e-3]), ("temperature", [0.5, 0.8, 1.2]), ("reg", [0.03, 0.1, 0.3])]),
    # uniformity compares every pair in the batch (O(B^2)): the authors' batches are small (256)
    Method("mf-directau", dict(model="mf", loss="directau", gamma=1.0, lr=1e-3, reg=0.0, batch_size=512),
           [("gamma", [0.5, 1.0, 2.0]), ("lr", [5e-4, 1e-3, 2e-3])]),
]


def _valid_setting(settings: dict[str, Any]) -> bool:
    try:
        Recommender(**settings)
    except ValueError:
        return False
    return True


def _outward(grid: list[Any], at_low: bool) -> Any | None:
    """The next value beyond the grid's edge: geometric from the two edge values, or None (0 edge)."""
    a, b = (grid[0], grid[1]) if at_low else (grid[-1], grid[-2])
    if a == 0:  # zero is the domain's own edge
        return None
    value = a * a / b if b else a * 10
    return type(a)(round(value, 10)) if isinstance(a, float) else int(round(value))


def fit_and_score(settings: dict[str, Any], train: Interactions, test: Interactions,
                  valid: Interactions | None, max_epochs: int) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    fixed = settings.get("lr_schedule") == "linear"  # a fixed epoch budget: no early stopping, the last epoch scored
    if fixed:
        valid = None
    if settings["loss"] != "als":
        extra = (dict(epochs=max_epochs, patience=3, monitor="ndcg") if valid is not None else dict(patience=None))
    rec = Recommender(**{**settings, **extra})
    t0 = time.perf_counter()
    rec.fit(train, valid=valid, progress=False)
    seconds = time.perf_counter() - t0
    res = evaluate(rec.score_all, train, test, k=(20,), metrics=("recall", "ndcg"))
    epochs = settings["epochs"] if settings["loss"] == "als" or valid is None else (rec.best_epoch or 0) + 1
    return dict(recall=res["recall@20"], ndcg=res["ndcg@20"], seconds=seconds, epochs=epochs)


def _key(method: str, settings: dict[str, Any]) -> tuple[Any, ...]:
    """A scored run's key: the method's name and its settings (two methods with the same settings
    but other epoch budgets, such as mf-ssm-wide and mf-ssm-wide10, keep their own runs)."""
    return (method, *sorted(settings.items()))


def tune(method: Method, fit: Interactions, valid: Interactions, max_epochs: int,
         seen: dict[tuple[Any, ...], dict[str, Any]], max_extensions: int = 2,
         deadline: float | None = None) -> dict[str, Any]:
    """Coordinate search; ``seen`` maps settings already scored (this run or a resumed log) to
    their validation result, so no setting is trained twice. Past ``deadline`` (a
    ``time.perf_counter()`` value) no new setting is trained: the choice is made among those
    scored, and the untried values are named in the method's notes."""
    current = dict(method.base)
    best: dict[str, Any] | None = None
    for name, grid in method.grids:
        grid, extensions = list(grid), 0
        while True:
            for value in grid:
                settings = {**current, name: value}
                key = _key(method.name, settings)
                if key not in seen and deadline is not None and time.perf_counter() > deadline:
                    method.notes.append(f"time budget spent: {name}={value:g} not tried")
                    print(f"  {method.name} {name}={value:g}: not tried (time budget spent)", flush=True)
                    continue
                if key not in seen:
                    valid_set = valid if method.sgd else None
                    r = fit_and_score(settings, fit, valid, valid_set, max_epochs)
                    seen[key] = r
                    flag = " (epoch cap)" if method.sgd and r["epochs"] >= max_epochs else ""
                    print(f"  {method.name} {name}={value:g}: valid ndcg@20 {r['ndcg']:.4f} recall@20 "
                          f"{r['recall']:.4f}, {r['epochs']} epochs{flag}, {r['seconds']:.0f} s "
                          f"{ {k: v for k, v in settings.items() if k not in ('model', 'loss')} }", flush=True)
            keys = [(j, _key(method.name, {**current, name: v})) for j, v in enumerate(grid)]
            scored = [(seen[key]["ndcg"], j) for j, key in keys if key in seen]  # past a deadline, not all
            if not scored:
                raise RuntimeError(f"time budget spent before any {method.name} setting with {name} was trained")
            j = max(scored)[1]
            if len(grid) == 1 or 0 < j < len(grid) - 1:
                break
            if deadline is not None and time.perf_counter() > deadline:
                method.notes.append(f"{name}={grid[j]:g} at the grid's edge (time budget spent)")
                break
            if extensions == max_extensions:
                method.notes.append(f"{name}={grid[j]:g} still at the grid's edge after {extensions} extensions")
                break
            nxt = _outward(grid, at_low=j == 0)
            if nxt is None or not _valid_setting({**current, name: nxt}):
                method.notes.append(f"{name}={grid[j]:g} is the domain's edge")
                break
            grid = [nxt, *grid] if j == 0 else [*grid, nxt]
            extensions += 1
        current[name] = grid[j]
        best = seen[_key(method.name, current)]
        print(f"  {method.name}: {name} = {grid[j]:g} (grid {[f'{v:g}' for v in grid]})", flush=True)
    assert best is not None
    if method.sgd and best["epochs"] >= max_epochs:
        method.notes.append(f"best epoch at the cap ({max_epochs})")
    method.chosen = {**current, **({"epochs": best["epochs"]} if method.sgd else {})}
    method.valid_ndcg = best["ndcg"]
    return best


_RUN = re.compile(r"^  (\S+) \w+=\S+: valid ndcg@20 ([0-9.]+) recall@20 ([0-9.]+), (\d+) epochs.*?, (\d+) s (\{.*\})$")


def runs_from_logs(lines: list[str], methods: list[Method]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Validation results of the runs logged by earlier tuning runs, keyed like `tune`'s ``seen``."""
    bases = {m.name: {k: m.base[k] for k in ("model", "loss")} for m in methods}
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for line in lines:
        m = _RUN.match(line)
        if m and m.group(1) in bases:
            settings = {**bases[m.group(1)], **ast.literal_eval(m.group(6))}
            seen[_key(m.group(1), settings)] = dict(ndcg=float(m.group(2)), recall=float(m.group(3)),
                                                         epochs=int(m.group(4)), seconds=float(m.group(5)))
    return seen


def choice_from_log(method: Method, lines: list[str], max_epochs: int,
                    seen: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Take ``method``'s choices from earlier tuning runs' logs (``--tuning-log``, in the order
    given): the last "<method>: <setting> = <value> (grid [...])" line of each setting, and the
    epochs and validation NDCG of the run with exactly those settings (``seen``, from
    `runs_from_logs` on the same lines)."""
    current = dict(method.base)
    for name, _ in method.grids:
        pattern = re.compile(rf"  {re.escape(method.name)}: {name} = (\S+) \(grid (\[.*\])\)$")
        found = [m for m in map(pattern.match, lines) if m]
        if not found:
            raise SystemExit(f"--tuning-log: no choice line for {method.name} {name}")
        value, grid = found[-1].group(1), ast.literal_eval(found[-1].group(2))  # the latest log decides
        ran = {g for g in grid if any(line.startswith(f"  {method.name} {name}={g}: ") for line in lines)}
        while len(grid) > 1 and grid[-1] != value and grid[-1] not in ran:  # logged as a grid point, never run
            grid = grid[:-1]
        while len(grid) > 1 and grid[0] != value and grid[0] not in ran:
            grid = grid[1:]
        current[name] = type(method.base[name])(float(value))
        if value in (grid[0], grid[-1]) and len(grid) > 1:
            method.notes.append(f"{name}={value} at the grid's edge (see the tuning log)")
    run = seen.get(_key(method.name, current))
    if run is None:
        raise SystemExit(f"--tuning-log: no run of {method.name} with {current}")
    method.valid_ndcg, epochs = run["ndcg"], run["epochs"]
    if method.sgd and epochs >= max_epochs:
        method.notes.append(f"best epoch at the cap ({max_epochs})")
    method.chosen = {**current, **({"epochs": epochs} if method.sgd else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(m.name for m in METHODS))
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="ml-100k, one-value grids, 2 epochs")
    parser.add_argument("--resume-log", type=Path, action="append", default=[],
                        help="tune again, but reuse every run these earlier logs already hold (repeatable)")
    parser.add_argument("--tune-only", action="store_true", help="stop after tuning (no refit, no table)")
    parser.add_argument("--max-extensions", type=int, default=2, help="outward grid extensions per setting")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="per method: no new setting is trained after this many minutes of its tuning "
                             "(the untried values are listed in its notes)")
    parser.add_argument("--tuning-log", type=Path, action="append", default=None,
                        help="take every method's choices from earlier runs' logs instead of tuning again "
                             "(repeat the flag for several logs)")
    args = parser.parse_args()
    if args.budget_minutes is not None and not args.budget_minutes > 0:
        parser.error(f"--budget-minutes must be > 0; got {args.budget_minutes}")
    if args.max_epochs < 1 or args.max_extensions < 0:
        parser.error(f"--max-epochs must be >= 1 and --max-extensions >= 0; got {args.max_epochs}, {args.max_extensions}")
    wanted = args.methods.split(",")
    unknown = set(wanted) - {m.name for m in METHODS}
    if unknown or "als" not in wanted:
        parser.error(f"--methods: unknown {sorted(unknown)} or no 'als' (the time reference); "
                     f"choices {[m.name for m in METHODS]}")
    methods = [m for m in METHODS if m.name in wanted]
    if args.smoke:
        given = random_split(data_loaders.load("ml-100k").interactions, test_ratio=0.2, seed=2020)
        train, test = given.train, given.test
        for m in methods:
            m.grids = [(n, g[:1]) for n, g in m.grids[:1]]
            m.base = {**m.base, **({"epochs": 2, "dim": 16} if m.name == "als" else
                                   {"epochs": 2} if "epochs" in m.base else {})}
            if "neg_pool" in m.base:
                m.base["neg_pool"] = 50
        args.max_epochs = 2
    else:
        split = data_loaders.load("gowalla").split()
        train, test = split.train, split.test
    inner = random_split(train, test_ratio=0.1, seed=2020)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {platform.machine()}, "
          f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n# $ .venv/bin/python {' '.join(sys.argv)}")
    print(f"# {'ml-100k (smoke)' if args.smoke else 'gowalla given split'}: {train.n_users} users, "
          f"{train.n_items} items, {train.nnz} train / {test.nnz} test; tuning: {inner.train.nnz} fit / "
          f"{inner.test.nnz} validation; SGD methods: MF dim 64, batch 2048 (DirectAU 512; mf-ssm-fast dim 128, "
          f"batch 8192; mf-ssm-wide* dim 256, lazy Adam; mf-ssm-wide-decay 11 epochs, linear decay), Adam, patience 3, "
          f"at most {args.max_epochs} epochs", flush=True)
    start = time.perf_counter()
    if args.tuning_log is not None:
        lines = [line for log in args.tuning_log for line in log.read_text().splitlines()]
        logged = runs_from_logs(lines, methods)
        for m in methods:
            choice_from_log(m, lines, args.max_epochs, logged)
        print(f"# settings and epochs chosen by the tuning runs logged in {', '.join(map(str, args.tuning_log))}: "
              f"{ {m.name: m.chosen for m in methods} }", flush=True)
    else:
        seen = runs_from_logs([line for log in args.resume_log for line in log.read_text().splitlines()], methods)
        if args.resume_log:
            print(f"# resuming: {len(seen)} runs reused from {', '.join(map(str, args.resume_log))}", flush=True)
        for m in methods:
            print(f"## tuning {m.name}", flush=True)
            deadline = None if args.budget_minutes is None else time.perf_counter() + 60 * args.budget_minutes
            tune(m, inner.train, inner.test, args.max_epochs, seen, args.max_extensions, deadline=deadline)
            print(f"  {m.name} chosen: {m.chosen}; notes: {'; '.join(m.notes) or '-'}", flush=True)
        print(f"# tuning wall {time.perf_counter() - start:.0f} s", flush=True)
        if args.tune_only:
            return
    als = next(m for m in methods if m.name == "als")
    finals = {"als": fit_and_score(als.chosen, train, test, None, args.max_epochs)}
    for m in methods:
        if m is not als:
            finals[m.name] = fit_and_score(m.chosen, train, test, None, args.max_epochs)
            print(f"  final {m.name}: {finals[m.name]}", flush=True)
    again = fit_and_score(als.chosen, train, test, None, args.max_epochs)
    als_seconds = (finals["als"]["seconds"] + again["seconds"]) / 2
    print(f"# ALS refit twice: {finals['als']['seconds']:.1f} s and {again['seconds']:.1f} s "
          f"(test metrics {'identical' if again['ndcg'] == finals['als']['ndcg'] else 'differ'}); "
          f"ratios below divide by the mean {als_seconds:.1f} s")
    print("\n| method | chosen settings (tuned on validation) | valid NDCG@20 | test Recall@20 | test NDCG@20 "
          "| epochs | train s | time / ALS | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in methods:
        r = finals[m.name]
        shown = {k: v for k, v in m.chosen.items() if k not in ("model", "loss", "epochs")}
        seconds = als_seconds if m is als else r["seconds"]
        print(f"| {m.name} | {', '.join(f'{k}={v:g}' if isinstance(v, (int, float)) else f'{k}={v}' for k, v in shown.items())} | {m.valid_ndcg:.4f} | "
              f"{r['recall']:.4f} | "
              f"{r['ndcg']:.4f} | {r['epochs']} | {seconds:.1f} | {seconds / als_seconds:.1f}x | "
              f"{'; '.join(m.notes) or '-'} |")
    print(f"# total wall {time.perf_counter() - start:.0f} s; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
