"""The public API of llama-index-workflows 2.26.1 is all here, apart from listed differences.

``data/reference_api_2.26.1.json`` was written by ``scripts/api_surface.py dump`` run with
the interpreter of a throwaway venv holding ``llama-index-workflows==2.26.1``;
``data/deliberate_differences.json`` lists what this package leaves out on purpose, with
the reason (also in docs/llamaindex-compat.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


def test_no_public_name_of_the_reference_is_missing_and_no_signature_differs_unexplained() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "api_surface.py"),
            "diff",
            str(DATA / "reference_api_2.26.1.json"),
            "--deliberate",
            str(DATA / "deliberate_differences.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.startswith("missing: 0\n"), done.stdout[:4000] + done.stderr[-2000:]
    assert done.returncode == 0
    # Every signature that differs from the reference's is listed with its reason.
    unexplained = done.stdout.split("\nsignature differences: ", 1)[1]
    assert unexplained.startswith("0\n"), unexplained[:4000]


def test_every_deliberate_difference_gives_a_reason() -> None:
    listed = json.loads((DATA / "deliberate_differences.json").read_text())
    assert listed
    assert all(isinstance(reason, str) and len(reason) > 20 for reason in listed.values())
