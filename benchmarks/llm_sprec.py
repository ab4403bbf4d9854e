"""Issue 11's comparison: SFT, DPO with random / popular negatives, S-DPO and SPRec self-play DPO
on one causal LM, plus a classical recpref sequence model on the same test users, one table.

    .venv/bin/python benchmarks/llm_sprec.py --dataset sprec-goodreads --base smollm2 --seeds 0,1,2

Data: ``sprec-goodreads`` (SPRec's train.json, split 80/10/10 by user with `split_examples`,
seed 0; the test part is scored) or ``ml-100k`` (leave-one-out next item per user, the same
split); ``--eval-prompts`` test users (a fixed seeded subset). Every method starts from one
stage-0 SFT model per seed (LoRA SFT on ``--sft0-prompts`` training prompts; the ``sft`` row is
that model) and runs ``--iterations`` iterations (`recpref.llm.sprec`, SPRec's recipe at CPU
size). Scores: both groundings (``beam`` = constrained beam search over the catalogue titles,
``--num-beams`` beams are the top-K; ``embedding`` = SPRec's nearest MiniLM titles of the greedy
generation) by `recpref.evaluation.evaluate_ranked_lists`: HR@K = target in the top K, NDCG@K =
1 / log2(rank + 2) with 0-based rank, DivRatio@K = distinct recommended items / (N K), ORRatio@K
= share of the N K slots taken by the 3 most recommended items, MGU@K / DGU@K genre fairness
against the test users' histories; unparseable generations are misses and are counted.

The classical row: recpref's ``--classical`` sequence model (default SASRec) trained on the
training users' sequences (history + next item; its last ``max_len`` items as input; an item a user read twice keeps its last
position, the count is logged), ranking every catalogue item for the test users'
histories (history items excluded), scored by the same function.

``--smoke``: a tiny random Llama built with `build_tiny_lm` instead of ``--base``, a handful of
prompts (the tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

METHODS = ("sft", "dpo-random", "dpo-popular", "sdpo", "sprec")
SHOWN = ("hit@1", "hit@5", "hit@10", "ndcg@5", "ndcg@10", "div_ratio@5", "or_ratio@5", "mgu@5", "dgu@5")


def _data(name: str) -> tuple[Any, list[Any], list[Any], str]:
    from data_loaders.llm_data import SPREC_GOODREADS_NOUN, load_ml100k_next_item, load_sprec_goodreads, split_examples

    if name == "sprec-goodreads":
        catalog, examples = load_sprec_goodreads()
        noun = SPREC_GOODREADS_NOUN
    else:
        catalog, examples = load_ml100k_next_item()
        noun = "movie"
    train, _, test = split_examples(examples, valid_fraction=0.1, test_fraction=0.1, seed=0)
    return catalog, train, test, noun


def _classical(model: str, catalog: Any, train: list[Any], test: list[Any], k: tuple[int, ...], seed: int,
               epochs: int) -> tuple[dict[str, float], float]:
    """A recpref sequence model on the training users' sequences -> ranked-list metrics on test."""
    from recpref.data import Interactions
    from recpref.evaluation import evaluate_ranked_lists
    from recpref.evaluation.ranking import canonical_topk
    from recpref.serving import Recommender

    users, items, times = [], [], []
    for u, ex in enumerate(train):
        seq = [*ex.history, ex.target]
        users += [u] * len(seq)
        items += seq
        times += list(range(len(seq)))
    # an item read twice by one user keeps its last position (counted in the log)
    data = Interactions.from_indices(users, items, n_users=len(train), n_items=len(catalog), timestamps=times,
                                     dedupe="keep_last")
    print(f"  classical: {len(items) - data.nnz} repeated (user, item) events merged (kept the last)", flush=True)
    start = time.perf_counter()
    rec = Recommender(model=model, epochs=epochs, seed=seed, min_history=1)
    rec.fit(data, progress=False)
    seconds = time.perf_counter() - start
    encoder = rec.encoder
    assert encoder is not None
    max_len = int(rec.config.max_len)
    width = min(max(len(ex.history) for ex in test), max_len)
    hist = torch.full((len(test), width), len(catalog), dtype=torch.int64)
    mask = torch.zeros((len(test), width), dtype=torch.bool)
    for r, ex in enumerate(test):  # left-padded, oldest first: the last max_len items of each history
        recent = ex.history[-width:]
        hist[r, width - len(recent):] = torch.tensor(recent)
        mask[r, width - len(recent):] = True
    with torch.no_grad():
        scores = encoder.score_histories(hist, mask)  # type: ignore[union-attr]
    for r, ex in enumerate(test):
        scores[r, list(ex.history)] = float("-inf")
    ranked = canonical_topk(scores, max(k)).numpy()
    pop = np.bincount(items, minlength=len(catalog)).astype(np.float64)
    res = evaluate_ranked_lists(ranked, [ex.target for ex in test], n_items=len(catalog), k=k,
                                item_genres=catalog.genres, n_genres=len(catalog.genre_names or ()) or None,
                                history_items=[list(ex.history) for ex in test], popularity=pop)
    return dict(res.metrics), seconds


def _cell(values: list[float]) -> str:
    vals = [v for v in values if v == v]
    if not vals:
        return "-"
    return f"{vals[0]:.4f}" if len(vals) == 1 else f"{statistics.mean(vals):.4f} ± {statistics.stdev(vals):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("sprec-goodreads", "ml-100k"), default="sprec-goodreads")
    parser.add_argument("--base", default="smollm2", help="a local HF causal-LM directory, or 'smollm2'")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (the split is fixed)")
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--sft0-prompts", type=int, default=256)
    parser.add_argument("--sft0-epochs", type=int, default=1)
    parser.add_argument("--iteration-prompts", type=int, default=128)
    parser.add_argument("--eval-prompts", type=int, default=100)
    parser.add_argument("--negatives", type=int, default=3, help="S-DPO's N")
    parser.add_argument("--num-beams", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rejected-from", choices=("embedding", "trie"), default="embedding")
    parser.add_argument("--groundings", default="beam,embedding")
    parser.add_argument("--classical", default="sasrec", help="recpref sequence model for the classical row, or none")
    parser.add_argument("--classical-epochs", type=int, default=30)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", default=None, help="directory for the run states (default: a temporary one)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        parser.error(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds: comma-separated integers; got {args.seeds!r}")
    for flag in ("iterations", "sft0_prompts", "sft0_epochs", "iteration_prompts", "eval_prompts", "num_beams",
                 "batch_size", "classical_epochs"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1; got {getattr(args, flag)}")
    if args.negatives < 2 and "sdpo" in methods:
        parser.error(f"--negatives must be >= 2 for sdpo; got {args.negatives}")
    groundings = tuple(g for g in args.groundings.split(",") if g)
    if not groundings or set(groundings) - {"beam", "embedding"}:
        parser.error(f"--groundings: a comma-separated subset of beam,embedding; got {args.groundings!r}")
    if args.device not in ("cpu", "cuda"):
        parser.error(f"--device must be cpu or cuda; got {args.device!r}")

    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # the per-fit device banner, not results
    from recpref.llm.lm import build_tiny_lm, load_causal_lm, smollm2_checkpoint
    from recpref.llm.prompts import render_prompts
    from recpref.llm.sprec import SPRecConfig, run_sprec

    catalog, train, test, noun = _data(args.dataset)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="recpref-llm-"))
    if args.smoke:
        texts = render_prompts(train[:200], catalog, style="alpaca", noun=noun)
        base = out / "tiny-base"
        build_tiny_lm(texts.prompts + texts.completions + [f'"{t}"\n' for t in catalog.titles], base, seed=0)
    else:
        base = smollm2_checkpoint() if args.base == "smollm2" else Path(args.base)
    _, tok = load_causal_lm(base)
    style = "chat" if tok.chat_template else "alpaca"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else f"{os.cpu_count()} CPU cores"
    print(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} commit {commit}; {platform.machine()}, {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n# $ .venv/bin/python {' '.join(sys.argv)}")
    print(f"# {args.dataset}: {len(catalog)} items, {len(train)} training users, {len(test)} test users "
          f"({min(args.eval_prompts, len(test))} scored); base {base if not args.smoke else 'tiny (smoke)'}, "
          f"{style} prompts", flush=True)
    k = (1, 5, 10)
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for seed in seeds:
        common = dict(iterations=args.iterations, sft0_prompts=args.sft0_prompts, sft0_epochs=args.sft0_epochs,
                      iteration_prompts=args.iteration_prompts, eval_prompts=args.eval_prompts,
                      num_beams=max(args.num_beams, max(k)), batch_size=args.batch_size,
                      rejected_from=args.rejected_from, groundings=groundings, seed=seed, k=k)
        sft_dir = out / f"seed{seed}-sft"
        order = ["sft"] + [m for m in methods if m != "sft"]
        for method in order:
            cfg = SPRecConfig(method=method, n_negatives=args.negatives if method == "sdpo" else 1,  # type: ignore[arg-type]
                              **common)  # type: ignore[arg-type]
            model, tok = load_causal_lm(base, device=args.device)
            start = time.perf_counter()
            res = run_sprec(model, tok, catalog, train, test, cfg, out / f"seed{seed}-{method}", style=style, noun=noun,
                            accelerator="gpu" if args.device == "cuda" else "cpu", progress=False,
                            stage0_from=None if method == "sft" else sft_dir,
                            log=lambda s, seed=seed, method=method: print(f"    [{method} seed {seed}] {s}", flush=True))
            final = res.evaluations[-1]["stage"]
            tok_s = [r.get(key) for r in res.reports for key in ("train_tokens_per_s", "sft_tokens_per_s",
                                                                   "dpo_tokens_per_s") if r.get(key)]
            for e in res.evaluations:
                if e["stage"] == final and method in methods:
                    rows.setdefault((method, e["grounding"]), []).append(
                        {**e, "seconds": time.perf_counter() - start,
                         "tokens_per_s": statistics.mean(tok_s) if tok_s else float("nan"),
                         "void": sum(r.get("void_pairs", 0) for r in res.reports),
                         "unparseable_pairs": sum(r.get("unparseable", 0) for r in res.reports)})
            print(f"  seed {seed} {method} done ({final}, {time.perf_counter() - start:.0f} s)", flush=True)
        if args.classical != "none":
            scored = test
            if args.eval_prompts < len(test):  # the same seeded subset run_sprec scores
                pick = np.random.default_rng(seed + 10_000).choice(len(test), args.eval_prompts, replace=False)
                scored = [test[i] for i in sorted(pick)]
            metrics, secs = _classical(args.classical, catalog, train, scored, k, seed,
                                       1 if args.smoke else args.classical_epochs)
            rows.setdefault((f"recpref {args.classical}", "full ranking"), []).append(
                {**metrics, "stage": "-", "n_unparseable": 0, "seconds": secs, "tokens_per_s": float("nan")})
            print(f"  seed {seed} classical {args.classical} done ({secs:.0f} s)", flush=True)
    print("\n| method | grounding | stage | " + " | ".join(SHOWN) + " | unparseable | train tokens/s | s |")
    print("|---|---|---|" + "---|" * (len(SHOWN) + 3))
    for (method, grounding), runs in rows.items():
        cells = [_cell([float(r.get(m, float("nan"))) for r in runs]) for m in SHOWN]
        print(f"| {method} | {grounding} | {runs[0]['stage']} | {' | '.join(cells)} | "
              f"{'/'.join(str(r['n_unparseable']) for r in runs)} | {_cell([r['tokens_per_s'] for r in runs])} | "
              f"{statistics.mean(r['seconds'] for r in runs):.0f} |")
    print("# cells: mean ± sample std over seeds " + ",".join(map(str, seeds)) + "; stage = the method's last model "
          "(sft0 for sft, dpoT after T iterations); s = wall seconds of the method's run after the shared stage 0 "
          "(the sft row: stage 0 itself)")
    print(f"# load at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
