"""The ``recpref`` command line: ``recpref datasets``, ``recpref train``, ``recpref benchmark``.

The CLI parses flags and calls the library (`recpref.protocols`, `recpref.benchmarking`);
building the parser imports no torch, so ``--help`` and ``datasets`` answer at once. A bad value
is one line naming the flag (exit 2), not a traceback.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recpref import catalog as cat
from recpref.cli_llm import add_llm_arguments, refuse_llm_flags
from recpref.cli_sequences import SEQUENCE_FLAGS, add_sequence_arguments, sequence_settings

DEFAULT_MODELS = ["popularity", "random", "implicit-bpr", "implicit-als", "recpref-bpr-mf-fused", "recpref-bpr-mf",
                  "recpref-bpo-mf", "recpref-nbpo-mf", "recpref-ssm-mf", "recpref-lightgcn", "recbole-bpr"]

# library setting -> the flag that sets it (for one-line errors that name the flag)
FLAGS = {"dim": "--dim", "n_layers": "--layers", "epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr",
         "reg": "--reg", "n_neg": "--n-neg", "patience": "--patience", "seed": "--seed", "monitor_k": "--k",
         "engine": "--engine", "clip": "--clip", "local": "--local", "nonneg": "--nonneg",
         "negative_weight": "--negative-weight", "steps_per_epoch": "--steps-per-epoch", "loss": "--loss",
         "model": "--model", "protocol": "--protocol", "propensity": "--propensity", "eta": "--eta",
         "temperature": "--temperature", "margin": "--margin", "gamma": "--gamma", "alpha": "--alpha",
         "neg_pool": "--neg-pool", "mask_pool": "--no-pool-mask", "optimizer": "--optimizer",
         "lr_schedule": "--lr-schedule", "max_len": "--max-len", "n_interests": "--interests",
         "n_iterations": "--routing-iterations", "power": "--power", "attention_dim": "--attention-dim",
         "n_blocks": "--blocks", "n_heads": "--heads", "dropout": "--dropout", "min_history": "--min-history",
         "negatives": "--negatives", "mask_history": "--mask-history", "short_len": "--short-len",
         "level1_interests": "--level1-interests"}


class UsageError(Exception):
    """A flag's value cannot be used; printed as one line and exit status 2."""


def _flagged(exc: BaseException) -> str:
    """A library error that starts with a setting's name, retold with the flag that sets it:
    "epochs must be ..." -> "--epochs must be ...", "loss 'dr' needs ..." -> "--loss dr needs ..."."""
    msg = str(exc.args[0]) if exc.args else str(exc)
    m = re.match(r"(?:setting\(s\) \[')?([a-z_]+)(?:'\])? (.*)", msg, re.S)
    if not m or m.group(1) not in FLAGS:
        return msg
    flag, rest = FLAGS[m.group(1)], m.group(2)
    quoted = re.match(r"'([^']*)'(.*)", rest, re.S)
    return f"{flag} {quoted.group(1)}{quoted.group(2)}" if quoted else f"{flag} {rest}"


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
    import torch

    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, python "
            f"{platform.python_version()}, torch {torch.__version__}"
            + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"))


def _load(args: argparse.Namespace) -> Any:
    import data_loaders

    try:
        return data_loaders.load(args.dataset, root=args.root)
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise UsageError(f"--dataset {args.dataset}: {exc.args[0] if exc.args else exc}") from None


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from recpref.benchmarking import build_runners, format_table, plot_results, results_to_json, run_benchmark
    from recpref.protocols import evaluation_split

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in _runner_names()]
    if unknown or not models:
        raise UsageError(f"--models: unknown model(s) {unknown}; known: {', '.join(_runner_names())}")
    runners = build_runners(models, quick=args.quick)
    ds = _load(args)
    split, protocol = evaluation_split(ds, args.protocol, test_ratio=args.test_ratio, seed=args.seed)
    ks = tuple(args.k)
    print(f"# {protocol}")
    print(f"# train {split.train.nnz} / test {split.test.nnz} interactions, "
          f"{split.train.n_users} users x {split.train.n_items} items; {_machine()}")
    print("# metrics: full ranking over all items minus the user's train items, binary gain, "
          "log2 discount, ties by item index, mean over users with test items", flush=True)

    def started(name: str, index: int) -> None:
        print(f"  [{index + 1}/{len(runners)}] {name}: training ...", file=sys.stderr, flush=True)

    def report(row: Any) -> None:
        status = f"error: {row.error}" if row.error else ", ".join(
            f"{k}={v:.4f}" for k, v in row.metrics.items() if k.endswith(f"@{max(ks)}") and k[:4] in ("reca", "ndcg"))
        print(f"  {row.name:14s} trained in {row.train_seconds:7.2f}s  {status}", file=sys.stderr, flush=True)

    results = run_benchmark(split, runners, k=ks, seed=args.seed, on_result=report, on_start=started)
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


def refuse(args: argparse.Namespace, names: tuple[str, ...], owners: str, subject: str | None = None) -> None:
    """Flags given (not None, or a switch set) that do not apply to --loss (or ``subject``): one
    line naming them and what they belong to."""
    given = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) not in (None, False)]
    if given:
        raise UsageError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to the {owners}, "
                         f"not {subject or f'--loss {args.loss}'}")


MNAR_FLAGS = ("clip", "local", "nonneg", "steps_per_epoch", "mnar_valid_ratio", "propensity", "eta")
SOFTMAX_FLAGS = ("temperature", "margin", "gamma")
SGD_FLAGS = ("lr", "patience", "batch_size")


def _train_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags give for --model's and --loss's family; a flag of another family is refused."""
    refuse_llm_flags(args)
    if args.model in cat.SEQUENCE_MODELS:
        return sequence_settings(args)
    refuse(args, (*SEQUENCE_FLAGS, "mask_history"), f"sequence models ({', '.join(cat.SEQUENCE_MODELS)})",
           f"--model {args.model}")
    settings: dict[str, Any] = {"model": args.model, "loss": args.loss, "epochs": args.epochs,
                                "reg": args.reg, "seed": args.seed, **({"dim": args.dim} if args.dim is not None else {})}
    mnar = f"MNAR losses ({', '.join(cat.MNAR_LOSSES)})"
    softmax = "softmax-family losses (ssm, ccl, directau)"
    if args.loss in cat.ALS_LOSSES:
        refuse(args, MNAR_FLAGS + SOFTMAX_FLAGS + ("negative_weight",), f"{mnar} or the {softmax}")
        refuse(args, SGD_FLAGS + ("n_neg", "negatives", "engine", "neg_pool", "optimizer", "lr_schedule"),
               "gradient-trained losses")
        refuse(args, ("no_pool_mask",), "shared negative pool (--neg-pool with bpr, ssm, ccl)")
        settings["reg"] = 0.01 if args.reg is None else args.reg
        settings["epochs"] = 15 if args.epochs is None else args.epochs
        if args.alpha is not None:
            settings["alpha"] = args.alpha
        return settings
    refuse(args, ("alpha",), "ALS loss (als)")
    settings.update(lr=1e-3 if args.lr is None else args.lr, patience=10 if args.patience is None else args.patience,
                    reg=0.0 if args.reg is None else args.reg, epochs=100 if args.epochs is None else args.epochs)
    if args.loss in cat.MNAR_LOSSES:
        refuse(args, SOFTMAX_FLAGS, softmax)
        refuse(args, ("n_neg", "negatives", "engine", "neg_pool", "optimizer", "lr_schedule"), "pairwise losses")
        refuse(args, ("no_pool_mask",), "shared negative pool (--neg-pool with bpr, ssm, ccl)")
        local = args.local or ("squared" if args.loss in ("relmf", "snips", "dr") else "log")
        settings.update(batch_size=args.batch_size or 256, local=local, clip=args.clip, nonneg=args.nonneg,
                        steps_per_epoch=args.steps_per_epoch)
        if args.negative_weight is not None:
            settings["negative_weight"] = args.negative_weight
        return settings
    refuse(args, MNAR_FLAGS, mnar)
    settings.update(batch_size=args.batch_size or 2048, n_neg=1 if args.n_neg is None else args.n_neg,
                    engine=args.engine or "auto", monitor_k=max(args.k or [20]))
    for name in ("temperature", "margin", "negative_weight", "gamma", "neg_pool", "optimizer", "lr_schedule",
                 "negatives"):
        if getattr(args, name) is not None:  # validated by the config: each belongs to one loss
            settings[name] = getattr(args, name)
    if args.no_pool_mask:
        settings["mask_pool"] = False
    if args.model != "mf":
        settings["n_layers"] = 3 if args.layers is None else args.layers
    return settings


def _check_output(args: argparse.Namespace) -> None:
    if args.output is None:
        return
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise UsageError(f"--output {out} exists and is not empty; pass --overwrite to replace it")


def _cmd_train(args: argparse.Namespace) -> int:
    from recpref.protocols import train_mnar, train_pairwise, train_sequence
    from recpref.serving import RecommenderConfig
    from recpref.training.config import POOL_LOSSES, default_loss

    if args.model in cat.LLM_MODELS:
        from recpref.cli_llm import train_llm

        return train_llm(args)
    if args.loss is None:
        args.loss = default_loss(args.model)
    settings = _train_settings(args)
    RecommenderConfig.of(**settings)  # every setting validated before any data or training work
    _check_output(args)
    ds = _load(args)
    progress = not args.no_progress
    n_neg = settings.get("n_neg", 1)
    if n_neg >= 100 and settings.get("neg_pool") is None and args.loss in POOL_LOSSES and \
            args.model not in cat.SEQUENCE_MODELS:
        print(f"note: --n-neg {n_neg} gathers a (batch, {n_neg}, dim) block of item rows per step; "
              f"--neg-pool {n_neg} (one shared pool per step, scored by one matmul) is much faster per step "
              "(docs/benchmarks.md, 'Many negatives')", file=sys.stderr, flush=True)
    if args.model in cat.SEQUENCE_MODELS:
        outcome = train_sequence(ds, settings, k=tuple(args.k or (5, 10)), accelerator=args.accelerator,
                                 progress=progress)
    elif args.loss in cat.MNAR_LOSSES:
        if args.protocol == "random":
            raise UsageError(f"--protocol random: --loss {args.loss} learns from biased clicks and is scored on the "
                             "dataset's own test split (--protocol predefined)")
        outcome = train_mnar(ds, settings, propensity=args.propensity or "popularity",
                             eta=0.5 if args.eta is None else args.eta,
                             valid_ratio=0.2 if args.mnar_valid_ratio is None else args.mnar_valid_ratio,
                             seed=args.seed, k=tuple(args.k) if args.k else None, accelerator=args.accelerator,
                             progress=progress)
    else:
        outcome = train_pairwise(ds, settings, protocol=args.protocol or "random",
                                 test_ratio=0.2 if args.test_ratio is None else args.test_ratio,
                                 valid_ratio=0.1 if args.valid_ratio is None else args.valid_ratio,
                                 seed=args.seed, k=tuple(args.k or (10, 20)),
                                 accelerator=args.accelerator, progress=progress)
    for note in outcome.notes:
        print(f"# {note}")
    result = outcome.result
    print("test:", ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items()),
          f"({result.n_users} users; {outcome.how})")
    if args.output:
        metrics = json.dumps({"test": result.to_dict(), "history": outcome.recommender.history}, indent=2)
        out = outcome.recommender.save(args.output, overwrite=args.overwrite, extra_files={"metrics.json": metrics})
        print(f"saved to {out} (config.json + model.safetensors + metrics.json); "
              f"load with recpref.serving.Recommender.load({str(out)!r})")
    return 0


def _runner_names() -> list[str]:
    from recpref.benchmarking.registry import RUNNERS

    return list(RUNNERS)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (imports no torch)."""
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
                                   "as safetensors + JSON for Recommender.load. Sequence models ("
                                   f"{', '.join(cat.SEQUENCE_MODELS)}) use the leave-one-out protocol of "
                                   "S3-Rec/TIGER on time-ordered data: each user's last item is the test target, "
                                   "the second-to-last the validation target (full ranking, Recall/NDCG@5,10). "
                                   "--model llm fine-tunes a causal LM (--base) on next-item prompts (SFT, DPO, "
                                   "S-DPO or SPRec's self-play DPO: --loss) and scores its generated lists.")
    p.add_argument("--dataset", default="ml-100k", help="dataset name (default ml-100k)")
    p.add_argument("--root", default=None, help="dataset directory (default $RECPREF_DATA_DIR/<name>)")
    p.add_argument("--model", choices=cat.MODELS, default="mf",
                   help=f"{', '.join(cat.INTERACTION_MODELS)}: random or predefined split (--protocol); sequence "
                        f"models {', '.join(cat.SEQUENCE_MODELS)}: leave-one-out (last item test, second-to-last "
                        "validation) on time-ordered data such as amazon-beauty; llm: a causal LM (--base) on "
                        "sprec-goodreads or ml-100k next-item prompts")
    p.add_argument("--loss", choices=cat.LOSSES, default=None,
                   help=f"default bpr, or ssm for the sequence models (which train with ssm or full); "
                        f"{'/'.join(cat.MNAR_LOSSES)} learn from MNAR clicks with propensities; "
                        f"{'/'.join(cat.LLM_LOSSES)} train --model llm (default sprec)")
    p.add_argument("--dim", type=int, default=None, help="embedding size (default 64; not for --model llm)")
    p.add_argument("--layers", type=int, default=None, help="propagation layers (lightgcn, ngcf; default 3)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 100; als: ALS sweeps, default 15)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default 2048, or 256 for the MNAR losses (small click sets: more steps per epoch), or 128 "
                        "for the sequence models (ComiRec), or 4 for --model llm (SFT/DPO and generation batch)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3)")
    p.add_argument("--optimizer", choices=cat.OPTIMIZERS, default=None,
                   help="pairwise losses (default adam); lazy_adam: Adam on the rows each step touches (mf with "
                        "--neg-pool)")
    p.add_argument("--lr-schedule", choices=cat.LR_SCHEDULES, default=None,
                   help="pairwise losses: constant (default) or linear decay to 0 over --epochs")
    p.add_argument("--reg", type=float, default=None,
                   help="L2 on the batch's embedding rows (default 0; als: ALS regularization, default 0.01)")
    p.add_argument("--n-neg", type=int, default=None,
                   help="negatives per positive (pairwise losses; default 1); sequence models with ssm: one shared "
                        "pool of this many per step (default 10 x batch size); --model llm: S-DPO's negatives per "
                        "prompt (--loss sdpo)")
    p.add_argument("--negatives", choices=cat.NEGATIVES, default=None,
                   help="negative proposal (pairwise losses, sequence models with ssm): uniform (default) or "
                        "popularity (count + 1)^0.75; ssm corrects for it (log-Q)")
    p.add_argument("--neg-pool", type=int, default=None,
                   help="bpr/ssm/ccl: one shared pool of this many uniform negatives per step instead of --n-neg "
                        "(scores by one matmul)")
    p.add_argument("--no-pool-mask", action="store_true",
                   help="keep a user's own items that land in the shared pool as negatives (default: left out)")
    p.add_argument("--patience", type=int, default=None,
                   help="epochs without validation gain before stopping (default 10)")
    p.add_argument("--protocol", choices=cat.PROTOCOLS, default=None,
                   help="random per-user holdout (default) or the dataset's own train/test split "
                        "(the MNAR losses always use the dataset's own split: predefined)")
    p.add_argument("--test-ratio", type=float, default=None,
                   help="test fraction per user (random protocol; default 0.2)")
    p.add_argument("--valid-ratio", type=float, default=None,
                   help="validation fraction for early stopping (default 0.1; 0: none)")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--k", type=int, nargs="+", default=None,
                   help="cut-offs (default 10 20; 5 10 for the sequence models; 1 3 5 on shown-item test sets such "
                        "as coat; --model llm: 1 5 10, those up to --num-beams)")
    p.add_argument("--accelerator", choices=["auto", "cpu", "gpu"], default="auto",
                   help="Lightning accelerator (auto takes a visible GPU)")
    p.add_argument("--engine", choices=cat.ENGINES, default=None,
                   help="auto: the fused CPU kernel for MF + BPR/BPO on CPU, Lightning otherwise")
    p.add_argument("--output", default=None,
                   help="directory to save the trained model into; --model llm: the run directory (LoRA adapter, "
                        "state.json, results.json; a rerun with the same settings resumes it)")
    p.add_argument("--alpha", type=float, default=None, help="als: confidence 1 + alpha x r (default 1)")
    g = p.add_argument_group("softmax-family losses (ssm, ccl, directau)")
    g.add_argument("--temperature", type=float, default=None,
                   help="ssm (and the sequence models' full): softmax temperature (default 1)")
    g.add_argument("--margin", type=float, default=None, help="ccl: cosine margin on negatives, in [-1, 1] (default 0.5)")
    g.add_argument("--gamma", type=float, default=None, help="directau: weight of uniformity (default 1)")
    g = p.add_argument_group(f"MNAR losses ({', '.join(cat.MNAR_LOSSES)})")
    g.add_argument("--propensity", choices=cat.PROPENSITIES, default=None,
                   help="popularity: (clicks_i / max clicks)^eta; given: the dataset's own per-cell propensities; "
                        "logistic: P(rated) from user and item features (coat)")
    g.add_argument("--eta", type=float, default=None, help="popularity propensity exponent (default 0.5)")
    g.add_argument("--clip", type=float, default=None, help="clip propensities from below at this value (Rel-MF M)")
    g.add_argument("--local", choices=cat.LOCAL_LOSSES, default=None,
                   help="local loss (default: squared for relmf/snips/dr as in the official code, else log)")
    g.add_argument("--nonneg", type=float, default=None, help="UBPR: clip each pair's loss at -beta")
    g.add_argument("--negative-weight", type=float, default=None,
                   help="wmf: weight of unclicked cells (default 1); ccl: weight of the negatives' term (default 10)")
    g.add_argument("--steps-per-epoch", type=int, default=None,
                   help="batches per epoch: MNAR losses (default clicks/batch), sequence models (default: training "
                        "targets/batch)")
    g.add_argument("--mnar-valid-ratio", type=float, default=None,
                   help="share of each user's clicks held out to choose the epochs (by SNIPS-DCG), after which "
                        "the model is retrained on all clicks; 0 trains --epochs on all clicks")
    add_sequence_arguments(p)
    add_llm_arguments(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("benchmark", help="train the peers and our models on one split; print a table",
                       description="Fit every model on the same split and measure each with recpref's evaluator. "
                                   "Prints a Markdown table, writes JSON and a PNG plot.")
    p.add_argument("--dataset", default="ml-100k", help="dataset name (see `recpref datasets`); default ml-100k")
    p.add_argument("--root", default=None, help="dataset directory (default $RECPREF_DATA_DIR/<name>)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated rows to run; known: {', '.join(_runner_names())} (default: all)")
    p.add_argument("--protocol", choices=cat.PROTOCOLS, default="random",
                   help="random per-user holdout (default) or the dataset's predefined train/test split")
    p.add_argument("--test-ratio", type=float, default=0.2, help="test fraction per user (random protocol)")
    p.add_argument("--seed", type=int, default=2020, help="split and training seed (default 2020)")
    p.add_argument("--k", type=int, nargs="+", default=[10, 20], help="cut-offs (default 10 20)")
    p.add_argument("--output", default="results", help="directory for JSON and PNG (default ./results)")
    p.add_argument("--quick", action="store_true", help="few epochs per model: a smoke run, not a benchmark")
    p.set_defaults(func=_cmd_benchmark)
    return parser


def _check_ranges(args: argparse.Namespace) -> None:
    for name in ("test_ratio", "valid_ratio", "mnar_valid_ratio"):
        value = getattr(args, name, None)
        if value is not None and not 0 <= value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1); got {value}")
    if getattr(args, "test_ratio", 0.5) == 0:
        raise UsageError("--test-ratio must be in (0, 1); got 0")
    for k in getattr(args, "k", None) or ():
        if k < 1:
            raise UsageError(f"--k values must be >= 1; got {k}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = f"recpref {args.command}"
    try:
        _check_ranges(args)
        code: int = args.func(args)
    except UsageError as exc:
        print(f"{sub}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, KeyError, FloatingPointError) as exc:
        if os.environ.get("RECPREF_DEBUG"):
            raise
        print(f"{sub}: error: {_flagged(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    return code


if __name__ == "__main__":
    raise SystemExit(main())
