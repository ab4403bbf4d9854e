"""The sequence models' part of ``recpref train``: their flags and their settings.

Kept apart from `recpref.cli` (which calls `add_sequence_arguments` and `sequence_settings`);
building the flags imports no torch. Sequence models run the leave-one-out protocol
(`recpref.protocols.train_sequence`).
"""

from __future__ import annotations

import argparse
from typing import Any

from recpref import catalog as cat

__all__ = ["INTERACTION_ONLY_FLAGS", "SEQUENCE_FLAGS", "add_sequence_arguments", "sequence_settings"]

SEQUENCE_FLAGS = {"max_len": "max_len", "interests": "n_interests", "routing_iterations": "n_iterations",
                  "power": "power", "attention_dim": "attention_dim", "blocks": "n_blocks", "heads": "n_heads",
                  "dropout": "dropout", "short_len": "short_len", "level1_interests": "level1_interests",
                  "min_history": "min_history"}
"""Flag dest -> sequence setting (plus the ``--mask-history`` switch)."""

INTERACTION_ONLY_FLAGS = ("layers", "reg", "engine", "neg_pool", "no_pool_mask", "optimizer", "lr_schedule", "margin",
                          "gamma", "negative_weight", "alpha", "protocol", "test_ratio", "valid_ratio", "clip", "local",
                          "nonneg", "mnar_valid_ratio", "propensity", "eta")
"""Flags of the interaction models (mf, lightgcn, ngcf) that a sequence model refuses."""


def add_sequence_arguments(p: argparse.ArgumentParser) -> None:
    """The sequence models' flags on ``recpref train``'s parser (each default None = the model's)."""
    g = p.add_argument_group(f"sequence models ({', '.join(cat.SEQUENCE_MODELS)}); leave-one-out protocol")
    g.add_argument("--max-len", type=int, default=None, help="history window: the last T items (default 50)")
    g.add_argument("--interests", type=int, default=None,
                   help="interests K (mind, comirec-dr, comirec-sa, hcn; default 4)")
    g.add_argument("--routing-iterations", type=int, default=None,
                   help="routing rounds (mind, comirec-dr) or clustering rounds (hcn); default 3")
    g.add_argument("--power", type=float, default=None, help="mind: label-aware attention power (default 1)")
    g.add_argument("--attention-dim", type=int, default=None, help="comirec-sa: attention size d_a (default 4 x dim)")
    g.add_argument("--blocks", type=int, default=None, help="sasrec: self-attention blocks (default 2)")
    g.add_argument("--heads", type=int, default=None, help="sasrec: attention heads (default 1)")
    g.add_argument("--dropout", type=float, default=None, help="sasrec: dropout (default 0.2)")
    g.add_argument("--short-len", type=int, default=None,
                   help="hcn: the short-term sequence, the last this many items of the window (default 20)")
    g.add_argument("--level1-interests", type=int, default=None,
                   help="hcn: level-1 interest clusters, at least --interests (default 2 x --interests)")
    g.add_argument("--min-history", type=int, default=None,
                   help="a training sample's target has at least this many items before it (default 1; ComiRec 4)")
    g.add_argument("--mask-history", action="store_true",
                   help="leave each user's history items out of the ranking in validation and test (S3-Rec's code "
                        "does); default: every item is ranked")


def sequence_settings(args: argparse.Namespace) -> dict[str, Any]:
    """A sequence model's settings from the flags; a flag of the interaction models is refused
    in one line (`recpref.cli.UsageError`). Model- and loss-specific values are checked by the
    configs (`recpref.training.sequence_config`), whose errors the CLI retells with the flag."""
    from recpref.cli import UsageError, refuse

    refuse(args, INTERACTION_ONLY_FLAGS, f"interaction models ({', '.join(cat.INTERACTION_MODELS)})",
           f"--model {args.model} (a sequence model: leave-one-out protocol, --loss ssm or full)")
    if args.loss not in cat.SEQUENCE_LOSSES:
        raise UsageError(f"--loss {args.loss} does not train the sequence models; --model {args.model} trains with "
                         f"--loss {' or '.join(cat.SEQUENCE_LOSSES)}")
    settings: dict[str, Any] = {
        "model": args.model, "loss": args.loss, "seed": args.seed, **({"dim": args.dim} if args.dim is not None else {}),
        "epochs": 100 if args.epochs is None else args.epochs, "lr": 1e-3 if args.lr is None else args.lr,
        "patience": 10 if args.patience is None else args.patience,
        "batch_size": 128 if args.batch_size is None else args.batch_size, "monitor_k": max(args.k or [5, 10])}
    for dest, name in {**SEQUENCE_FLAGS, "n_neg": "n_neg", "negatives": "negatives", "temperature": "temperature",
                       "steps_per_epoch": "steps_per_epoch"}.items():
        if getattr(args, dest) is not None:
            settings[name] = getattr(args, dest)
    if args.mask_history:
        settings["mask_history"] = True
    return settings
