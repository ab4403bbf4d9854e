"""Flag checks shared by the sequence benchmark scripts (amazon_peers, amazon_comirec,
sequence_epoch_time, hcn_coarse_rank): each bad value ends the script through ``parser.error``
(exit code 2) with a message naming the flag."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence


def known_names(parser: argparse.ArgumentParser, flag: str, text: str, choices: Sequence[str]) -> list[str]:
    """A comma-separated list of names from ``choices``; an unknown one names the flag and the choices."""
    names = text.split(",")
    unknown = sorted(set(names) - set(choices))
    if unknown:
        parser.error(f"{flag}: unknown {unknown}; choices {', '.join(choices)}")
    return names


def check_at_least_one(parser: argparse.ArgumentParser, args: argparse.Namespace, names: Iterable[str]) -> None:
    """Every ``args.<name>`` (integer settings) must be >= 1; the error names ``--<name>``."""
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
