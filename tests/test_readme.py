"""The README's Python example runs as written; its two commands are the ones CI uses."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_examples_run() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    text = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", text, re.S)
    assert len(commands) == 2
    assert "recpref benchmark --dataset ml-100k" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci
