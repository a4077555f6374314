"""examples/approval_app.py: a run started in one process is answered from another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "examples" / "approval_app.py"


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APP), *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_demo_answers_a_run_from_another_process() -> None:
    done = _run("demo")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("started ")
    assert "Approve 420.00 for ada?" in lines[1]
    assert lines[-1] == "approved 420.00 for ada"


def test_subcommands_share_the_default_file(tmp_path: Path) -> None:
    started = _run("start", "--amount", "99.5", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    assert (tmp_path / "approvals.db").exists()
    listing = _run("inbox", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    [line] = listing.stdout.strip().splitlines()
    request_id = line.split("\t")[0]
    answered = _run("respond", request_id, "no", cwd=tmp_path)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip() == "rejected 99.50 for ada"
    again = _run("respond", request_id, "yes", cwd=tmp_path)
    assert again.returncode != 0
    assert "answered" in again.stderr.lower()
    assert _run("inbox", cwd=tmp_path).stdout.strip() == ""
