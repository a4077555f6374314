"""The code samples in ``docs/`` run as they are.

A ```python block preceded by the line ``<!-- test: run -->`` is written to a file and
run with the interpreter running the tests, in a fresh temporary directory; it passes
when it exits with status 0. Every ```python block in the documents must be marked: a
sample nobody runs is a sample that rots.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"
DOCUMENTS = ("architecture.md", "fan-out.md", "human-in-the-loop.md")
RUN_MARK = "<!-- test: run -->"
EXAMPLE_TIMEOUT = 50  # seconds for one sample (one of them starts a second process)


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # 1-based line of the opening fence
    code: str
    runnable: bool

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def python_blocks(document: str) -> list[Block]:
    """Every ```python block of ``docs/<document>``, with its run mark."""
    lines = (DOCS_DIR / document).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```python":
            index += 1
            continue
        start = index
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{document}:{start + 1}: unclosed ```python block")
        previous = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        code = "\n".join(lines[start + 1 : end]) + "\n"
        blocks.append(Block(document, start + 1, code, previous == RUN_MARK))
        index = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for doc in DOCUMENTS if (DOCS_DIR / doc).is_file() for b in python_blocks(doc)]


RUNNABLE = [b for b in all_blocks() if b.runnable]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_document_has_runnable_samples(document: str) -> None:
    assert (DOCS_DIR / document).is_file(), f"docs/{document} is missing"
    assert any(b.runnable for b in python_blocks(document)), f"docs/{document}: no samples"


def test_every_python_block_is_marked_runnable() -> None:
    unmarked = [b.id for b in all_blocks() if not b.runnable]
    assert not unmarked, f"```python blocks without {RUN_MARK!r} on the line before: {unmarked}"


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_sample_runs(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "sample.py"
    script.write_text(block.code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
    )
    assert done.returncode == 0, (
        f"docs/{block.id} exited with {done.returncode}\n"
        f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    )
