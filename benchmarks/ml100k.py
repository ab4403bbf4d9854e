"""The MovieLens-100K benchmark of README / docs/benchmarks.md.

    .venv/bin/python benchmarks/ml100k.py [--update-docs]

Runs `recpref benchmark --dataset ml-100k` (every registered row, one run, one split, one
evaluator), prints the table, and with --update-docs writes it between the
``<!-- BENCHMARK-TABLE -->`` markers of README.md and docs/benchmarks.md together with the
machine, date and command.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from recpref.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"<!-- BENCHMARK-TABLE -->.*?<!-- /BENCHMARK-TABLE -->|<!-- BENCHMARK-TABLE -->", re.S)


def _block(blob: dict) -> str:
    from recpref.benchmarking import RunResult, format_table

    rows = [RunResult(r["name"], r["tool"], r["metrics"], r["train_seconds"], r["eval_seconds"], r["params"],
                      r["n_users"], r["error"]) for r in blob["results"]]
    table = format_table(rows, columns=("recall@20", "ndcg@20"), reference="implicit BPR")
    return (f"<!-- BENCHMARK-TABLE -->\n{table}\n\n"
            f"Measured {blob['date']} on {blob['machine']}; `{blob['command']}`. "
            f"{blob['protocol']}; {next(iter(rows)).n_users} test users.\n<!-- /BENCHMARK-TABLE -->")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "docs" / "results"))
    args = parser.parse_args()
    sys.argv = ["recpref", "benchmark", "--dataset", "ml-100k", "--output", args.output]
    code = cli_main(sys.argv[1:])
    if args.update_docs:
        blob = json.loads((Path(args.output) / "benchmark-ml-100k.json").read_text())
        for doc in (ROOT / "README.md", ROOT / "docs" / "benchmarks.md"):
            text = doc.read_text()
            doc.write_text(MARK.sub(lambda _: _block(blob), text, count=1))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
