"""The README's code blocks marked `<!-- runnable -->` run as written."""

from __future__ import annotations

import re
import types
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- runnable -->\s*```python\n(.*?)```", re.S)


def runnable_blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_the_readme_has_runnable_examples():
    assert len(runnable_blocks()) >= 2


def test_the_readme_examples_run_as_written():
    module = types.ModuleType("readme_examples")
    for block in runnable_blocks():
        # As written: not under this file's `from __future__ import annotations`.
        code = compile(block, f"{README}:runnable", "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102
    # The blocks assert their own outcomes; check one of them really ran to the end.
    assert module.__dict__["failing"].status(module.__dict__["iid"]).status == "failed"
