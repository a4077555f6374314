"""Every example in examples/ runs to the end and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_approval_example_auto_approves() -> None:
    done = _run(str(EXAMPLES / "approval.py"), "--auto-approve")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "approved 420.00 for ada"


def test_approval_example_takes_the_answer_from_the_terminal() -> None:
    done = _run(str(EXAMPLES / "approval.py"), stdin="no\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("rejected 420.00 for ada")
