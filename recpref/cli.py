"""The ``recpref`` command line: ``recpref datasets``, ``recpref benchmark``."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_MODELS = ["popularity", "random", "implicit-bpr", "implicit-als", "recpref-bpr-mf-fused", "recpref-bpr-mf",
                  "recpref-bpo-mf", "recpref-nbpo-mf", "recpref-lightgcn", "recbole-bpr"]


def _cmd_datasets(args: argparse.Namespace) -> int:
    import data_loaders

    rows = data_loaders.status(verify=not args.no_verify)
    width = max(len(r.name) for r in rows)
    print(f"{'dataset':{width}s}  {'available':9s}  {'verified':8s}  root / message")
    for r in rows:
        verified = "-" if r.verified is None else ("yes" if r.verified else "NO")
        print(f"{r.name:{width}s}  {'yes' if r.available else 'no':9s}  {verified:8s}  {r.root}  {r.message}")
    return 0


def _machine() -> str:
    import os

    import torch

    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, python "
            f"{platform.python_version()}, torch {torch.__version__}"
            + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"))


def _cmd_benchmark(args: argparse.Namespace) -> int:
    import data_loaders
    from recpref.benchmarking import build_runners, format_table, plot_results, results_to_json, run_benchmark
    from recpref.data import Split, random_split

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    runners = build_runners(models, quick=args.quick)  # unknown names fail before any work
    ds = data_loaders.load(args.dataset, root=args.root)
    if args.protocol == "predefined":
        split: Split = ds.split()
        protocol = f"{args.dataset} predefined train/test split"
    else:
        split = random_split(ds.interactions, test_ratio=args.test_ratio, seed=args.seed)
        protocol = (f"{args.dataset}: all interactions positive, random per-user "
                    f"{1 - args.test_ratio:.0%}/{args.test_ratio:.0%} split (floor per user), seed {args.seed}")
    ks = tuple(args.k)
    print(f"# {protocol}")
    print(f"# train {split.train.nnz} / test {split.test.nnz} interactions, "
          f"{split.train.n_users} users x {split.train.n_items} items; {_machine()}")
    print("# metrics: full ranking over all items minus the user's train items, binary gain, "
          "log2 discount, ties by item index, mean over users with test items", flush=True)

    def report(row: object) -> None:
        from recpref.benchmarking import RunResult

        assert isinstance(row, RunResult)
        status = f"error: {row.error}" if row.error else ", ".join(
            f"{k}={v:.4f}" for k, v in row.metrics.items() if k.endswith(f"@{max(ks)}") and k[:4] in ("reca", "ndcg"))
        print(f"  {row.name:14s} trained in {row.train_seconds:7.2f}s  {status}", file=sys.stderr, flush=True)

    results = run_benchmark(split, runners, k=ks, seed=args.seed, on_result=report)
    cols = [f"{m}@{k}" for k in (max(ks),) for m in ("recall", "ndcg")]
    ref = next((r.name for r in results if r.tool == "implicit" and "BPR" in r.name), None)
    print(format_table(results, columns=cols, reference=ref))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"benchmark-{args.dataset}"
    meta = {"dataset": args.dataset, "protocol": protocol, "seed": args.seed, "k": list(ks),
            "quick": args.quick, "machine": _machine(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": "recpref " + " ".join(sys.argv[1:])}
    (out / f"{stem}.json").write_text(json.dumps(results_to_json(results, **meta), indent=2))
    png = plot_results(results, out / f"{stem}.png", metric=f"recall@{max(ks)}",
                       title=f"{args.dataset}: recall@{max(ks)} vs train time")
    print(f"\nwrote {out / (stem + '.json')} and {png}")
    return 1 if any(r.error for r in results) else 0


def _cmd_train_mnar(args: argparse.Namespace, ds: Any) -> int:
    from recpref.evaluation import evaluate, evaluate_candidates
    from recpref.propensity import logistic_propensity, popularity_propensity, user_item_propensity
    from recpref.serving import Recommender

    if not {"train", "test"} <= set(ds.splits):
        raise SystemExit(f"--loss {args.loss} learns from biased clicks and is evaluated on the dataset's own test "
                         f"split; {args.dataset} has none (try coat or yahoo-r3)")
    from recpref.data import random_split

    split = ds.split()
    clicks, valid = split.train, None
    if args.mnar_valid_ratio:
        # held-out clicks are as biased as the rest: early stopping selects on SNIPS-DCG
        inner = random_split(split.train, test_ratio=args.mnar_valid_ratio, seed=args.seed)
        clicks, valid = inner.train, inner.test
    def propensities(train_clicks: Any) -> Any:
        if args.propensity == "given":
            if "propensities" not in ds.extras:
                raise SystemExit(f"{args.dataset} ships no propensities; use --propensity popularity")
            return user_item_propensity(ds.extras["propensities"], train_clicks)
        if args.propensity == "logistic":
            observed = ds.extras.get("train_observed")
            if observed is None or ds.users is None or ds.items is None:
                raise SystemExit(f"--propensity logistic needs rated cells and user/item features; "
                                 f"{args.dataset} lacks them")
            return logistic_propensity(observed, ds.users.drop("user_id").to_numpy(),
                                       ds.items.drop("item_id").to_numpy())
        return popularity_propensity(train_clicks, eta=args.eta)

    theta = propensities(clicks)
    local = args.local or ("squared" if args.loss in ("relmf", "snips", "dr") else "log")
    candidates = ds.extras.get("test_candidates")
    ks = tuple(args.k) if args.k else ((1, 3, 5) if candidates is not None else (10, 20))
    rec = Recommender(model="mf", loss=args.loss, dim=args.dim, epochs=args.epochs, batch_size=args.batch_size or 256,
                      lr=args.lr, reg=args.reg, seed=args.seed, clip=args.clip, local=local, nonneg=args.nonneg,
                      negative_weight=args.negative_weight, steps_per_epoch=args.steps_per_epoch,
                      patience=args.patience, monitor_k=max(ks))
    exposure = ds.extras.get("train_observed") if args.loss == "dr" else None
    if args.loss == "dr" and exposure is None:
        raise SystemExit(f"--loss dr needs the shown cells; {args.dataset} does not record them")
    print(f"# training mf/{args.loss} on {args.dataset} MNAR clicks: {clicks.nnz} clicks"
          f"{'' if valid is None else f' ({valid.nnz} held out for early stopping on SNIPS-DCG@{max(ks)})'}, "
          f"propensity {args.propensity} (min {theta.min():.4g}), clip {args.clip}, local {local}", flush=True)
    rec.fit(clicks, valid=valid, progress=not args.no_progress, accelerator=args.accelerator, propensity=theta,
            exposure=exposure)
    if valid is not None:
        # the held-out clicks chose the training length; retrain on every click for that long
        key = f"val/snips_dcg@{max(ks)}"
        scored = [h for h in rec.history if key in h]
        best = max(scored, key=lambda h: h[key]) if scored else None
        epochs = int(best["epoch"]) + 1 if best else args.epochs
        print(f"# best {key} {best[key] if best else float('nan'):.4f} after {epochs} epoch(s); retraining on all "
              f"{split.train.nnz} clicks for {epochs} epoch(s)", flush=True)
        rec = Recommender(rec.config, epochs=epochs, patience=None)
        rec.fit(split.train, progress=not args.no_progress, accelerator=args.accelerator,
                propensity=propensities(split.train), exposure=exposure)
    if candidates is not None:
        result = evaluate_candidates(rec.score_all, candidates, k=ks, metrics=("dcg", "recall", "map", "ndcg"),
                                     relevance_threshold=float(ds.extras.get("positive_rating", 4.0)))
        how = "each user's randomly shown test items ranked; relevant = rating >= threshold"
    else:
        result = evaluate(rec.score_all, clicks, split.test, k=ks, metrics=("recall", "ndcg", "precision", "map"))
        how = "full ranking, train items masked"
    print("test:", ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items()), f"({result.n_users} users; {how})")
    if args.output:
        out = rec.save(args.output, overwrite=args.overwrite)
        (out / "metrics.json").write_text(json.dumps({"test": result.to_dict(), "history": rec.history}, indent=2))
        print(f"saved to {out}; load with recpref.serving.Recommender.load({str(out)!r})")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import data_loaders
    from recpref.data import Split, random_split
    from recpref.evaluation import evaluate
    from recpref.serving import Recommender

    ds = data_loaders.load(args.dataset, root=args.root)
    from recpref.serving.recommender import MNAR_LOSSES

    if args.loss in MNAR_LOSSES:
        if args.model != "mf":
            raise SystemExit(f"--loss {args.loss} trains --model mf only")
        return _cmd_train_mnar(args, ds)
    if {"train", "test"} <= set(ds.splits) and args.protocol == "predefined":
        given = ds.split()
        inner = random_split(given.train, test_ratio=args.valid_ratio, seed=args.seed) if args.valid_ratio else None
        split = Split(train=inner.train if inner else given.train, test=given.test,
                      valid=inner.test if inner else given.valid, allow_overlap=True)
    else:
        split = random_split(ds.interactions, test_ratio=args.test_ratio, valid_ratio=args.valid_ratio, seed=args.seed)
    rec = Recommender(model=args.model, loss=args.loss, dim=args.dim, n_layers=args.layers, epochs=args.epochs,
                      batch_size=args.batch_size or 2048, lr=args.lr, reg=args.reg, n_neg=args.n_neg, seed=args.seed,
                      patience=args.patience, monitor_k=max(args.k or [20]), engine=args.engine)
    print(f"# training {args.model}/{args.loss} on {args.dataset}: {split.train.nnz} train, "
          f"{0 if split.valid is None else split.valid.nnz} validation, {split.test.nnz} test interactions", flush=True)
    rec.fit(split.train, valid=split.valid, progress=not args.no_progress, accelerator=args.accelerator)
    seen = split.train
    result = evaluate(rec.score_all, seen, split.test, k=tuple(args.k or (10, 20)),
                      metrics=("recall", "ndcg", "precision", "map"))
    print("test:", ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items()),
          f"({result.n_users} users; full ranking, train items masked)")
    if args.output:
        out = rec.save(args.output, overwrite=args.overwrite)
        (out / "metrics.json").write_text(json.dumps({"test": result.to_dict(), "history": rec.history}, indent=2))
        print(f"saved to {out} (config.json + model.safetensors + metrics.json); "
              f"load with recpref.serving.Recommender.load({str(out)!r})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from recpref.benchmarking import RUNNERS

    parser = argparse.ArgumentParser(prog="recpref", description="Learning user preferences from implicit feedback.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("datasets", help="list known datasets and whether each is available and verified locally",
                       description="List the known public datasets, where recpref looks for each "
                                   "($RECPREF_DATA_DIR/<name>) and whether its files are present and match "
                                   "their sha256.")
    p.add_argument("--no-verify", action="store_true", help="only check presence, skip sha256 verification")
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("train", help="train one model, report test metrics, save it",
                       description="Train a recpref model (early stopping on a validation split carved from "
                                   "train), evaluate it on the test split with recpref's evaluator, and save it "
                                   "as safetensors + JSON for Recommender.load.")
    p.add_argument("--dataset", default="ml-100k", help="dataset name (default ml-100k)")
    p.add_argument("--root", default=None, help="dataset directory (default $RECPREF_DATA_DIR/<name>)")
    p.add_argument("--model", choices=["mf", "lightgcn", "ngcf"], default="mf")
    p.add_argument("--loss", choices=["bpr", "bpo", "nbpo", "nbpo_exact", "naive", "relmf", "snips", "dr", "wmf", "ubpr"],
                   default="bpr", help="naive/relmf/snips/dr/wmf/ubpr learn from MNAR clicks with propensities")
    p.add_argument("--dim", type=int, default=64, help="embedding size")
    p.add_argument("--layers", type=int, default=3, help="propagation layers (lightgcn, ngcf)")
    p.add_argument("--epochs", type=int, default=100, help="maximum epochs")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 2048, or 256 for the MNAR losses (small click sets: more steps per epoch)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--reg", type=float, default=0.0, help="L2 on the batch's embedding rows")
    p.add_argument("--n-neg", type=int, default=1, help="negatives per positive")
    p.add_argument("--patience", type=int, default=10, help="epochs without validation gain before stopping")
    p.add_argument("--protocol", choices=["random", "predefined"], default="random",
                   help="random per-user holdout (default) or the dataset's own train/test split")
    p.add_argument("--test-ratio", type=float, default=0.2, help="test fraction per user (random protocol)")
    p.add_argument("--valid-ratio", type=float, default=0.1, help="validation fraction for early stopping (0: none)")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--k", type=int, nargs="+", default=None,
                   help="cut-offs (default 10 20; 1 3 5 on shown-item test sets such as coat)")
    p.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu")
    p.add_argument("--engine", choices=["auto", "lightning", "fused"], default="auto",
                   help="auto: the fused CPU kernel for MF + BPR/BPO on CPU, Lightning otherwise")
    p.add_argument("--output", default=None, help="directory to save the trained model into")
    g = p.add_argument_group("MNAR losses (naive, relmf, snips, dr, wmf, ubpr)")
    g.add_argument("--propensity", choices=["popularity", "given", "logistic"], default="popularity",
                   help="popularity: (clicks_i / max clicks)^eta; given: the dataset's own per-cell propensities; "
                        "logistic: P(rated) from user and item features (coat)")
    g.add_argument("--eta", type=float, default=0.5, help="popularity propensity exponent (default 0.5)")
    g.add_argument("--clip", type=float, default=None, help="clip propensities from below at this value (Rel-MF M)")
    g.add_argument("--local", choices=["log", "squared"], default=None,
                   help="local loss (default: squared for relmf/snips/dr as in the official code, else log)")
    g.add_argument("--nonneg", type=float, default=None, help="UBPR: clip each pair's loss at -beta")
    g.add_argument("--negative-weight", type=float, default=1.0, help="WMF weight of unclicked cells")
    g.add_argument("--steps-per-epoch", type=int, default=None, help="MNAR batches per epoch (default clicks/batch)")
    g.add_argument("--mnar-valid-ratio", type=float, default=0.2,
                   help="share of each user's clicks held out to choose the epochs (by SNIPS-DCG), after which "
                        "the model is retrained on all clicks; 0 trains --epochs on all clicks")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("benchmark", help="train the peers and our models on one split; print a table",
                       description="Fit every model on the same split and measure each with recpref's evaluator. "
                                   "Prints a Markdown table, writes JSON and a PNG plot.")
    p.add_argument("--dataset", default="ml-100k", help="dataset name (see `recpref datasets`); default ml-100k")
    p.add_argument("--root", default=None, help="dataset directory (default $RECPREF_DATA_DIR/<name>)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated rows to run; known: {', '.join(RUNNERS)} (default: all)")
    p.add_argument("--protocol", choices=["random", "predefined"], default="random",
                   help="random per-user holdout (default) or the dataset's predefined train/test split")
    p.add_argument("--test-ratio", type=float, default=0.2, help="test fraction per user (random protocol)")
    p.add_argument("--seed", type=int, default=2020, help="split and training seed (default 2020)")
    p.add_argument("--k", type=int, nargs="+", default=[10, 20], help="cut-offs (default 10 20)")
    p.add_argument("--output", default="results", help="directory for JSON and PNG (default ./results)")
    p.add_argument("--quick", action="store_true", help="few epochs per model: a smoke run, not a benchmark")
    p.set_defaults(func=_cmd_benchmark)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
