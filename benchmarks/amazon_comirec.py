"""Issue 10's ComiRec-protocol tables on the Amazon data: the main comparison (ComiRec KDD'20 Tables
3/4 style), the number of interests K (Table 4's sweep) and controllable aggregation's lambda
(Table 5), mean ± std over seeds, in one run.

    .venv/bin/python benchmarks/amazon_comirec.py --dataset amazon-beauty --seeds 0,1,2 --device cuda

Protocol (ComiRec's strong generalisation, methods.md 3.3; `recpref.data.comirec_split`): per
seed, the users are permuted with that seed and split 8:1:1 into training, validation and test
users; training users' whole sequences are the training data; a validation / test user's first
floor(80%) of behaviours is the input (its last ``--max-len`` items are the history the model
sees) and the remaining behaviours are the targets. The seed is both the split seed and the
training seed of that repetition. Every item is ranked for every test user, history items
included (ComiRec's code does not filter them), by recpref's one `evaluate` through
`recpref.benchmarking.run_sequence_benchmark`, with ``item_categories`` (the leaf category of
each item's first category path, `data_loaders.sequences.item_categories`, ComiRec's choice)
for Diversity@N. History: ``--max-len`` 50 by default (ComiRec uses T = 20 on Books and 50 on
Taobao; the Amazon 5-core sequences here are short, so 50 keeps almost every input whole).

Rows of Table 1 (``--rows``, recpref, K = 4 for the multi-interest models): dim ``--dim``,
batch ``--batch-size``, a shared pool of ``--n-neg`` uniform negatives per step with log-Q, Adam
``--lr``, ComiRec's samples with ``--min-history`` (default 1: every position a target, as the
peers train; ComiRec's own code uses 4, its Books/Taobao sequences being long), early stopping on
the validation users' Recall@50 (ComiRec's criterion; patience ``--patience``, at most
``--epochs``). The validation users are not training users here, so `RecprefSequenceRunner`
gives the model their input histories (`fit(..., valid_history=)`) for the validation rankings;
training samples still come from the training users only.
With ``--peers on``: RecBole 1.2.1 SASRec / GRU4Rec / SINE (cross-entropy over the catalogue,
early stopping on the same validation users' NDCG@50 through recpref's evaluate, the same
patience) and torch-rechub 0.9.0 MIND / ComiRec-SA / ComiRec-DR at the ``fair`` preset (the same
dim, history and batch; no early stopping in their trainer: ``--rechub-epochs`` fixed epochs),
all in the same `run_sequence_benchmark` call per seed as the recpref rows.

Table 2 re-trains the multi-interest models of ``--k-models`` with each K of ``--k-sweep`` (K = 4
is Table 1's run when that model is one of its rows). Table 3 takes Table 1's trained K = 4
ComiRec-SA and ComiRec-DR, retrieves each test user's candidates (every interest's top 50 by
inner product, merged, scored f(u, i) = max_k e_i . v_k; `recpref.serving.retrieve`) and picks 50
of them by controllable aggregation with each lambda of ``--lambdas`` (`recpref.serving.aggregate`,
g(i, j) = 1[leaf(i) != leaf(j)]); the aggregated lists are scored by the same `evaluate` through a
scorer giving list position r the score 50 - r + 1 and every other item -inf, so evaluate's top 50
*is* the list (checked: Recall@50 and Diversity@50 computed directly on the lists equal the
evaluator's). lambda = 0 is the plain top 50 by f and reproduces Table 1's numbers (checked and
printed per seed; asserted in ``--smoke``).

No per-model tuning (one shared setting per tool): the rows compare models at equal budgets, not
tuned optima. ``--smoke``: a 300-user subset, one 3-step epoch per recpref row, one epoch per peer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import statistics
import subprocess
import sys
from typing import Any, cast

import numpy as np
import torch

import data_loaders
from data_loaders.sequences import item_categories
from recpref.benchmarking.base import RunResult
from recpref.benchmarking.sequence_harness import RecprefSequenceRunner, SequenceRunner, run_sequence_benchmark
from recpref.data import Sequences, comirec_split
from sequence_cli import check_at_least_one, known_names

RECPREF = ("mean", "sasrec", "mind", "comirec-dr", "comirec-sa", "hcn")
MULTI_INTEREST = ("mind", "comirec-dr", "comirec-sa", "hcn")
AGGREGATED = ("comirec-sa", "comirec-dr")  # Table 3 (ComiRec Table 5)
PEERS = ("recbole:SASRec", "recbole:GRU4Rec", "recbole:SINE", "rechub:mind", "rechub:comirec-sa",
         "rechub:comirec-dr")
N = 50  # the cut-off of Tables 2 and 3 (ComiRec's @50) and of the aggregated lists
TABLE1 = ("recall@20", "recall@50", "hit@20", "hit@50", "ndcg@50", "diversity@50")
SWEEP = ("recall@50", "hit@50", "diversity@50")

# ComiRec KDD'20 on Amazon Books (percent; methods.md 3.3). Different data (Books, T = 20): context
# only, never rows of these tables.
PAPER_T3 = "Books R@20 / HR@20 (%): GRU4Rec 4.057 / 8.945, MIND 4.862 / 10.618, ComiRec-SA 5.489 / 11.402, " \
           "ComiRec-DR 5.311 / 12.005; R@50: ComiRec-SA 8.467, ComiRec-DR 8.106, MIND about 7.64 (Table 4)"
PAPER_T4 = "Books R@50 (%) by K: ComiRec-SA K=2 8.835, 4 8.467, 6 8.901, 8 8.547; ComiRec-DR K=2 7.081, 4 8.106, " \
           "6 7.904, 8 7.760"
PAPER_T5 = "Books R@50 / Diversity@50 (%): ComiRec-SA lambda 0 8.467 / 23.237, 0.1 8.229 / 46.731, 0.25 8.034 / " \
           "55.100; ComiRec-DR lambda 0 8.106 / 19.036, 0.25 7.764 / 48.375"


# ---------------------------------------------------------------------------------------- runners
def recpref_runner(model: str, args: argparse.Namespace, *, n_interests: int | None = None) -> RecprefSequenceRunner:
    extra: dict[str, Any] = {"steps_per_epoch": 3} if args.smoke else {}
    if n_interests is not None:
        extra["n_interests"] = n_interests
    name = f"recpref {model}" + (f" K={n_interests}" if n_interests is not None else "")
    return RecprefSequenceRunner(
        name=name, accelerator="gpu" if args.device == "cuda" else "cpu", model=model, dim=args.dim,
        max_len=args.max_len, batch_size=args.batch_size, n_neg=args.n_neg, lr=args.lr,
        epochs=1 if args.smoke else args.epochs, patience=args.patience, monitor="recall", monitor_k=N,
        min_history=args.min_history, seed=0, **extra)


def peer_runner(row: str, args: argparse.Namespace) -> SequenceRunner:
    tool, model = row.split(":")
    if tool == "recbole":
        from recpref.benchmarking.recbole_sequence_runner import RecBoleSequential

        return RecBoleSequential(model=cast(Any, model), dim=args.dim, max_len=args.max_len,
                                 batch_size=args.batch_size, lr=args.lr, epochs=1 if args.smoke else args.epochs,
                                 patience=args.patience, valid_k=N, device=args.device)
    from recpref.benchmarking.rechub_runner import RecHubMultiInterest

    return RecHubMultiInterest(cast(Any, model), "fair", dim=args.dim, max_len=args.max_len,
                               batch_size=args.batch_size, epochs=1 if args.smoke else args.rechub_epochs,
                               device=args.device)


# ---------------------------------------------------------------------------------------- aggregation
def aggregated_metrics(runner: RecprefSequenceRunner, split: Any, categories: np.ndarray, lambdas: list[float],
                       max_len: int) -> dict[float, dict[str, float]]:
    """Table 3 for one trained multi-interest runner: per lambda, Recall@50 / HR@50 / Diversity@50
    of the aggregated lists of every test user, scored by `evaluate_with_diversity`."""
    from recpref.evaluation import diversity, evaluate_with_diversity
    from recpref.modules.sequence import evaluation_mask
    from recpref.serving import aggregate, retrieve

    seq = runner.history_model.sequence
    users = np.asarray(split.test.users, dtype=np.int64)  # sorted: evaluate's batches hold the same rows
    inputs = split.test.inputs.padded(users, max_len)
    window = int(seq.max_len)
    item_emb = seq.item_emb.weight[: seq.n_items].detach()
    parts = []
    with torch.no_grad():
        for s in range(0, users.size, 1024):  # evaluate's batch size: the interests of the same rows
            interests = seq.interests(inputs.items[s:s + 1024, -window:], inputs.mask[s:s + 1024, -window:])
            parts.append(retrieve(interests, item_emb, N))
    cand_items = torch.cat([p.items for p in parts])
    cand_scores = torch.cat([p.scores for p in parts])
    cats_t = torch.tensor(categories)  # a copy: item_categories returns a read-only array
    n_items = int(seq.n_items)
    row_of = np.full(split.test.inputs.n_users, -1, dtype=np.int64)
    row_of[users] = np.arange(users.size)
    seen = evaluation_mask(split.test.inputs.to_interactions(), False)  # nothing masked: every item ranked
    truth = split.test.targets.to_interactions()
    targets = [np.unique(split.test.targets.sequence(int(u))) for u in users]
    positions = torch.arange(N, 0, -1, dtype=torch.float32)  # list slot r -> score N - r
    out: dict[float, dict[str, float]] = {}
    for lam in lambdas:
        lists = aggregate(cand_items, cand_scores, cats_t, N, lam)  # (U, N), -1 = empty slot

        def scorer(u: torch.Tensor, lists: torch.Tensor = lists) -> torch.Tensor:
            rows = lists[torch.from_numpy(row_of[u.cpu().numpy()])]
            full = torch.full((rows.shape[0], n_items + 1), float("-inf"))
            full.scatter_(1, torch.where(rows >= 0, rows, n_items), positions.expand(rows.shape[0], N))
            return full[:, :n_items].contiguous()  # empty slots went to the dropped column n_items

        res = evaluate_with_diversity(scorer, seen, truth, categories, k=(N,), metrics=("recall", "hit"))
        got = dict(res.metrics)
        arr = lists.numpy()
        direct_div = float(np.nanmean(diversity(arr, categories)))
        direct_recall = float(np.mean([np.isin(t, a[a >= 0]).sum() / t.size for a, t in zip(arr, targets)]))
        # evaluate's top N is the aggregated list: the same numbers computed on the lists directly
        assert res.n_users == users.size, (res.n_users, users.size)
        assert math.isclose(direct_div, got[f"diversity@{N}"], abs_tol=1e-9), (direct_div, got)
        assert math.isclose(direct_recall, got[f"recall@{N}"], abs_tol=1e-9), (direct_recall, got)
        out[lam] = got
    return out


# ---------------------------------------------------------------------------------------- output
def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _line(r: RunResult, keys: tuple[str, ...]) -> str:
    if r.error:
        return f"ERROR {r.error}"
    return " ".join(f"{m} {r.metrics[m]:.4f}" for m in keys) + (
        f"; {r.params.get('epochs_run', '-')} epochs, {r.train_seconds:.0f} s")


def _epochs(r: RunResult, best: int | None) -> str:
    run = r.params.get("epochs_run", "-")
    return f"{run}" if best is None else f"{run} (best {best + 1})"


def _ints(text: str, flag: str, parser: argparse.ArgumentParser, low: int) -> list[int]:
    try:
        values = [int(s) for s in text.split(",")]
    except ValueError:
        parser.error(f"{flag}: comma-separated integers; got {text!r}")
    if any(v < low for v in values) or len(set(values)) != len(values):
        parser.error(f"{flag}: distinct integers >= {low}; got {text!r}")
    return values


def _names(text: str, flag: str, parser: argparse.ArgumentParser, choices: tuple[str, ...]) -> list[str]:
    names = known_names(parser, flag, text, choices)
    if len(set(names)) != len(names):
        parser.error(f"{flag}: a name is repeated in {text!r}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["amazon-beauty", "amazon-toys"], default="amazon-beauty")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated; each is the split seed and the training seed")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--rows", default=",".join(RECPREF), help=f"Table 1's recpref rows, from {', '.join(RECPREF)}")
    parser.add_argument("--peers", choices=["on", "off"], default="on",
                        help="on: Table 1 also has RecBole SASRec/GRU4Rec/SINE and torch-rechub mind/comirec-sa/"
                             "comirec-dr (fair preset)")
    parser.add_argument("--epochs", type=int, default=100, help="at most this many epochs (early stopping)")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--rechub-epochs", type=int, default=30, help="torch-rechub rows: fixed epochs (no early stop)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=50, help="history window T (ComiRec: 20 Books, 50 Taobao)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--n-neg", type=int, default=1000, help="shared pool of uniform negatives per step (log-Q)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--min-history", type=int, default=1, help="ComiRec's code: 4")
    parser.add_argument("--k-sweep", default="1,2,4,8", help="Table 2's K values, or 'none'")
    parser.add_argument("--k-models", default="comirec-sa,comirec-dr,mind",
                        help=f"Table 2's models, from {', '.join(MULTI_INTEREST)}")
    parser.add_argument("--lambdas", default="0,0.1,0.25", help="Table 3's lambda values (>= 0), or 'none'")
    parser.add_argument("--smoke", action="store_true", help="a 300-user subset, one short epoch per row")
    args = parser.parse_args()
    rows = _names(args.rows, "--rows", parser, RECPREF)
    seeds = _ints(args.seeds, "--seeds", parser, 0)
    check_at_least_one(parser, args, ("epochs", "patience", "rechub_epochs", "dim", "max_len", "batch_size", "n_neg",
                                      "min_history"))
    if not (args.lr > 0 and math.isfinite(args.lr)):
        parser.error(f"--lr must be > 0; got {args.lr}")
    ks = [] if args.k_sweep == "none" else _ints(args.k_sweep, "--k-sweep", parser, 1)
    k_models = _names(args.k_models, "--k-models", parser, MULTI_INTEREST)
    lambdas: list[float] = []
    if args.lambdas != "none":
        try:
            lambdas = [float(s) for s in args.lambdas.split(",")]
        except ValueError:
            parser.error(f"--lambdas: comma-separated numbers >= 0; got {args.lambdas!r}")
        if any(not (math.isfinite(v) and v >= 0) for v in lambdas) or len(set(lambdas)) != len(lambdas):
            parser.error(f"--lambdas: distinct finite numbers >= 0; got {args.lambdas!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    checked = sorted(set(lambdas) | {0.0}) if lambdas else []  # lambda 0 always runs: the check against Table 1
    aggregated = [m for m in AGGREGATED if m in rows]
    peers = list(PEERS) if args.peers == "on" else []

    ds = data_loaders.load(args.dataset)
    seqs = Sequences.from_interactions(ds.interactions)
    if args.smoke:
        seqs = seqs.select(np.isin(seqs.rows, np.arange(300)))
    cats = item_categories(ds, level="leaf")
    categories = np.asarray(cats.ids, dtype=np.int64)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else f"{os.cpu_count()} CPU cores"
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {platform.machine()}, {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n# $ .venv/bin/python {' '.join(sys.argv)}")
    n_active = int((seqs.lengths > 0).sum())
    print(f"# {args.dataset}, ComiRec protocol (strong generalisation): {n_active} users split 8:1:1 per seed, the "
          f"first 80% of a validation/test user's behaviours the input, the rest the targets, history items ranked; "
          f"{seqs.n_items} items, {seqs.nnz} events, {cats.n_categories} leaf categories ({cats.n_unknown} items "
          f"without one)")
    print(f"# recpref: dim {args.dim}, history {args.max_len}, batch {args.batch_size}, pool of {args.n_neg} uniform "
          f"negatives (log-Q), Adam {args.lr:g}, min_history {args.min_history}, K 4, early stopping on validation "
          f"Recall@{N} (patience {args.patience}, at most {args.epochs} epochs); peers {args.peers} (RecBole: NDCG@{N}, "
          f"same patience; torch-rechub fair: {args.rechub_epochs} fixed epochs); seeds {seeds}"
          + ("; SMOKE: 300-user subset, one 3-step epoch" if args.smoke else ""), flush=True)

    table1: dict[str, list[RunResult]] = {}
    best1: dict[str, list[int | None]] = {}
    table2: dict[tuple[str, int], list[RunResult]] = {}
    table3: dict[tuple[str, float], list[dict[str, float]]] = {}
    for seed in seeds:
        split = comirec_split(seqs, seed=seed)
        assert split.valid is not None
        print(f"  seed {seed}: {int((split.train.lengths > 0).sum())} training users ({split.train.nnz} events), "
              f"{split.valid.users.size} validation users, {split.test.users.size} test users "
              f"({split.test.targets.nnz} targets)", flush=True)

        def on_start(name: str, i: int, seed: int = seed) -> None:
            print(f"  seed {seed}: training {name} ...", flush=True)

        main_runners: list[SequenceRunner] = [recpref_runner(m, args) for m in rows]
        main_runners += [peer_runner(p, args) for p in peers]
        results = run_sequence_benchmark(
            split, main_runners, max_len=args.max_len, k=(20, N), metrics=("recall", "hit", "ndcg"), seed=seed,
            item_categories=categories, on_start=on_start,
            on_result=lambda r: print(f"    {r.name}: {_line(r, TABLE1)}", flush=True))
        by_model: dict[str, tuple[RecprefSequenceRunner, RunResult]] = {}
        for runner, r in zip(main_runners, results):
            table1.setdefault(runner.name, []).append(r)
            best1.setdefault(runner.name, []).append(getattr(runner, "best_epoch", None))
            if isinstance(runner, RecprefSequenceRunner):
                by_model[runner.settings["model"]] = (runner, r)

        sweep = [(m, k) for m in k_models for k in ks if not (k == 4 and m in by_model)]
        sweep_results = run_sequence_benchmark(
            split, [recpref_runner(m, args, n_interests=k) for m, k in sweep], max_len=args.max_len, k=(N,),
            metrics=("recall", "hit"), seed=seed, item_categories=categories, on_start=on_start,
            on_result=lambda r: print(f"    {r.name}: {_line(r, SWEEP)}", flush=True)) if sweep else []
        for (m, k), r in zip(sweep, sweep_results):
            table2.setdefault((m, k), []).append(r)
        for m in k_models:
            if 4 in ks and m in by_model:
                table2.setdefault((m, 4), []).append(by_model[m][1])

        for m in aggregated if checked else []:
            runner, r1 = by_model[m]
            if r1.error:
                print(f"    seed {seed}: {runner.name}: no Table 3 (its training failed)", flush=True)
                continue
            got = aggregated_metrics(runner, split, categories, checked, args.max_len)
            for lam in checked:
                table3.setdefault((m, lam), []).append(got[lam])
                print(f"    seed {seed}: {runner.name} lambda {lam:g}: "
                      + " ".join(f"{k} {got[lam][k]:.4f}" for k in SWEEP), flush=True)
            diffs = {k: got[0.0][k] - r1.metrics[k] for k in SWEEP}
            same = all(abs(d) <= 1e-9 for d in diffs.values())
            print(f"    seed {seed}: {runner.name} lambda 0 vs Table 1: "
                  + ", ".join(f"{k} {got[0.0][k]:.6f} / {r1.metrics[k]:.6f}" for k in SWEEP)
                  + (" (equal)" if same else " DIFFERENT (a near-tie at rank 50 ordered differently?)"), flush=True)
            if args.smoke:
                assert same, diffs

    print(f"\n## Table 1: {args.dataset}, ComiRec protocol, test users (K = 4)\n")
    print("| row | tool | Recall@20 | Recall@50 | HR@20 | HR@50 | NDCG@50 | Diversity@50 | epochs | train s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, runs in table1.items():
        errors = [r.error for r in runs if r.error is not None]
        if errors:
            print(f"| {name} | {runs[0].tool} | error: {errors[0]} | | | | | | | |")
            continue
        cells = [_cell([r.metrics[m] for r in runs]) for m in TABLE1]
        epochs = ", ".join(_epochs(r, b) for r, b in zip(runs, best1[name]))
        print(f"| {name} | {runs[0].tool} | {' | '.join(cells)} | {epochs} | "
              f"{statistics.mean(r.train_seconds for r in runs):.0f} |")
    print(f"# paper (ComiRec KDD'20, Amazon Books, different data, not rows): {PAPER_T3}")

    print(f"\n## Table 2: number of interests K (Recall@50, HR@50, Diversity@50)\n")
    if table2:
        print("| model | K | Recall@50 | HR@50 | Diversity@50 | epochs | train s |\n|---|---|---|---|---|---|---|")
        for m in k_models:
            for k in ks:
                runs = table2.get((m, k), [])
                if not runs:
                    continue
                errors = [r.error for r in runs if r.error is not None]
                if errors:
                    print(f"| recpref {m} | {k} | error: {errors[0]} | | | | |")
                    continue
                note = " (Table 1)" if k == 4 and m in rows else ""
                print(f"| recpref {m} | {k}{note} | {' | '.join(_cell([r.metrics[x] for r in runs]) for x in SWEEP)} | "
                      f"{', '.join(str(r.params.get('epochs_run', '-')) for r in runs)} | "
                      f"{statistics.mean(r.train_seconds for r in runs):.0f} |")
    else:
        print("(no K sweep: --k-sweep none)")
    print(f"# paper (Books, not rows): {PAPER_T4}")

    print(f"\n## Table 3: controllable aggregation, lambda (n = {N}, leaf categories; Table 1's K = 4 models)\n")
    if aggregated and lambdas:
        head = " | ".join(f"{m} Recall@50 | {m} HR@50 | {m} Diversity@50" for m in aggregated)
        print(f"| lambda | {head} |\n|---|{'---|' * 3 * len(aggregated)}")
        for lam in lambdas:
            cells = [_cell([g[x] for g in table3.get((m, lam), [])]) for m in aggregated for x in SWEEP]
            print(f"| {lam:g} | {' | '.join(cells)} |")
        print("# lambda 0 = the plain top 50 by f(u, i): Table 1's Recall@50 / HR@50 / Diversity@50 of the model "
              "(checked per seed above)")
    else:
        print("(no lambda sweep: needs recpref comirec-sa or comirec-dr in --rows and --lambdas)")
    print(f"# paper (Books, not rows): {PAPER_T5}")

    print("\n# Definitions (test users only; every item ranked, history items included; mean over users):")
    print("#   Recall@N = |top-N ∩ targets| / |targets| (targets = the user's behaviours after the first 80%)")
    print("#   HR@N = 1 if top-N ∩ targets is not empty, else 0")
    print("#   NDCG@N = sum over hits at rank r <= N of 1/log2(r + 1), divided by the same sum over ranks "
          "1..min(|targets|, N): the standard formula. The ComiRec paper's NDCG used a buggy discount (the hit's "
          "position inside the target list; ComiRec issues #6/#21), so its NDCG numbers are not comparable")
    print("#   Diversity@N = share of the unordered item pairs of the top-N list whose leaf categories differ "
          "(users with >= 2 listed items)")
    print("#   cells: mean ± sample std over the seeds (split and training seed alike); epochs: run per seed (best "
          "= the kept weights); train s: the whole fit incl. validation, mean over seeds")
    print(f"# load at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
