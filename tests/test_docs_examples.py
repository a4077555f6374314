"""The code blocks of ``README.md`` and ``docs/*.md`` run as they are, or say why not.

Every fenced block is preceded (on the previous non-empty line) by a marker:

- ``<!-- test: run -->`` (```python): the block is written to a file and run with the
  interpreter running the tests, in a fresh temporary directory holding a copy of
  ``examples/``; it passes when it exits with status 0. Options, after ``;``:
  ``stdin=TEXT`` (``\\n`` for new lines) is its standard input; ``after=previous`` runs
  the previous python block of the document first, in the same program (a
  continuation); ``module=NAME:PATH`` copies the repository file ``PATH`` in as
  ``NAME.py``; ``prelude=CODE`` runs ``CODE`` first; ``server=MODULE:ATTR`` starts
  ``workflows serve MODULE:ATTR --token s3cret`` on a free port for the block, whose
  ``http://127.0.0.1:8000`` is replaced by the server's address.
- ``<!-- test: shell -->`` (```bash / ```sh): the block runs with ``bash -e`` in such a
  directory, where ``workflows`` and ``python`` (also as ``.venv/bin/...``) are those of
  the tests; ``stdin=TEXT`` as above.
- ``<!-- test: json -->`` (```json): the block parses as JSON.
- ``<!-- test: fragment: REASON -->``: not run, on purpose, for the reason given (a
  python fragment must still compile, top-level ``await`` allowed).

A block nobody runs and nobody explained is a block that rots. The documents also speak
of the project only: no paths of a particular machine, no talk of work sessions.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest

from _serve_command import SERVE, serving

ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = ROOT / "docs"
DOCUMENTS = ("README.md", *sorted(f"docs/{p.name}" for p in DOCS_DIR.glob("*.md")))
MUST_HAVE_SAMPLES = ("docs/architecture.md", "docs/fan-out.md", "docs/human-in-the-loop.md")
MARK = re.compile(r"^<!--\s*test:\s*(?P<body>.*?)\s*-->$")
KINDS = {"run": ("python",), "shell": ("bash", "sh"), "json": ("json",), "fragment": None}
EXAMPLE_TIMEOUT = 50  # seconds for one sample (one of them starts a second process)
TOKEN = "s3cret"
DOC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document, with its test marker."""

    document: str
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    mark: str | None  # the marker's text after "test:", or None without a marker

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"

    @property
    def kind(self) -> str | None:
        if self.mark is None:
            return None
        return re.split(r"[;:\s]", self.mark, maxsplit=1)[0]

    @property
    def reason(self) -> str:
        return self.mark.partition(":")[2].strip() if self.kind == "fragment" and self.mark else ""

    @property
    def options(self) -> dict[str, str]:
        if self.mark is None or self.kind == "fragment":
            return {}
        items = [item.strip() for item in self.mark.split(";")[1:]]
        pairs = (item.partition("=") for item in items if item)
        return {key.strip(): value.strip() for key, _, value in pairs}


def blocks_of(document: str) -> list[Block]:
    """Every fenced block of ``document`` (a path relative to the repository)."""
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = lines[index].strip()
        if not opening.startswith("```"):
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{document}:{index + 1}: unclosed code block")
        previous = next((ln.strip() for ln in reversed(lines[:index]) if ln.strip()), "")
        match = MARK.match(previous)
        code = "\n".join(lines[index + 1 : end]) + "\n"
        lang = opening[3:].strip().lower()
        found.append(Block(document, index + 1, lang, code, match["body"] if match else None))
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in blocks_of(document)]


def of_kind(kind: str) -> list[Block]:
    return [block for block in all_blocks() if block.kind == kind]


def _unescape(text: str) -> str:
    return text.encode().decode("unicode_escape")


# -- every block is tested or explained -------------------------------------------------------
def test_every_block_is_marked() -> None:
    problems = []
    for block in all_blocks():
        if block.kind is None:
            problems.append(f"{block.id}: no <!-- test: ... --> marker on the line before")
        elif block.kind not in KINDS:
            problems.append(f"{block.id}: unknown marker {block.mark!r}")
        elif block.kind == "fragment" and len(block.reason) < 10:
            problems.append(f"{block.id}: a fragment must say why it is not run")
        elif KINDS[block.kind] is not None and block.lang not in KINDS[block.kind]:  # type: ignore[operator]
            problems.append(f"{block.id}: {block.kind!r} does not apply to ```{block.lang}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("document", MUST_HAVE_SAMPLES)
def test_document_has_runnable_samples(document: str) -> None:
    assert (ROOT / document).is_file(), f"{document} is missing"
    assert any(b.kind == "run" for b in blocks_of(document)), f"{document}: no samples"


FRAGMENTS = [b for b in of_kind("fragment") if b.lang == "python"]


@pytest.mark.parametrize("block", FRAGMENTS, ids=[b.id for b in FRAGMENTS])
def test_python_fragments_compile(block: Block) -> None:
    compile(block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


JSON_BLOCKS = of_kind("json")


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=[b.id for b in JSON_BLOCKS])
def test_json_blocks_parse(block: Block) -> None:
    json.loads(block.code)


MACHINE_SPECIFIC = re.compile(r"(/work/|/root/|/home/|/opt/|/Users/|\bthis session\b)", re.I)


@pytest.mark.parametrize(
    "document",
    DOCUMENTS,
)
def test_documents_speak_of_the_project_only(document: str) -> None:
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    found = [
        f"{document}:{number}: {line.strip()}"
        for number, line in enumerate(lines, 1)
        if MACHINE_SPECIFIC.search(line)
    ]
    assert not found, "\n".join(found)


# -- running ---------------------------------------------------------------------------------
def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with a copy of ``examples/`` and ``.venv`` pointing at this venv."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    return tmp_path


def _server(workdir: Path, target: str) -> AbstractContextManager[str]:
    command = [*SERVE, target, "--token", TOKEN, "--store", "sqlite:///served.db"]
    return serving(command, cwd=workdir, env=_environment(), start_timeout=EXAMPLE_TIMEOUT)


def _program(block: Block) -> str:
    options = block.options
    parts = []
    if "prelude" in options:
        parts.append(options["prelude"] + "\n")
    if options.get("after") == "previous":
        earlier = [
            b for b in blocks_of(block.document) if b.lang == "python" and b.line < block.line
        ]
        assert earlier, f"{block.id}: after=previous, but no python block comes before it"
        parts.append(earlier[-1].code)
    parts.append(block.code)
    return "\n".join(parts)


def _report(block: Block, done: subprocess.CompletedProcess[str]) -> str:
    return (
        f"{block.id} exited with {done.returncode}\n"
        f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    )


RUNNABLE = of_kind("run")


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_sample_runs(block: Block, workdir: Path) -> None:
    options = block.options
    unknown = set(options) - {"stdin", "after", "module", "prelude", "server"}
    assert not unknown, f"{block.id}: unknown options {sorted(unknown)}"
    if "module" in options:
        name, _, path = options["module"].partition(":")
        shutil.copy(ROOT / path, workdir / f"{name}.py")
    code = _program(block)
    with _server(workdir, options["server"]) if "server" in options else nullcontext() as url:
        if url is not None:
            assert DOC_URL in code, f"{block.id}: server= but no {DOC_URL} in the sample"
            code = code.replace(DOC_URL, url)
        script = workdir / "sample.py"
        script.write_text(code, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-W", "error", str(script)],
            cwd=workdir,
            env=_environment(),
            input=_unescape(options.get("stdin", "")),
            capture_output=True,
            text=True,
            timeout=EXAMPLE_TIMEOUT,
        )
    assert done.returncode == 0, _report(block, done)


SHELL = of_kind("shell")


@pytest.mark.parametrize("block", SHELL, ids=[b.id for b in SHELL])
def test_shell_sample_runs(block: Block, workdir: Path) -> None:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.code],
        cwd=workdir,
        env=_environment(),
        input=_unescape(block.options.get("stdin", "")),
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT * 2,
    )
    assert done.returncode == 0, _report(block, done)
    assert "Traceback" not in done.stderr, _report(block, done)


# -- the README's first commands, after their installs --------------------------------------------
def _readme_command(pattern: str) -> list[str]:
    """The README command matching ``pattern``, without its install part."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(pattern, text)
    assert match, f"README.md no longer has a command matching {pattern!r}"
    words = match.group(0).split()
    assert words[0].startswith(".venv/bin/")
    return words


def test_readme_commands(workdir: Path) -> None:
    """The README's demo, and its serve command answering on a port of its own."""
    demo = _readme_command(r"\.venv/bin/python examples/approval_app\.py demo")
    done = subprocess.run(
        demo, cwd=workdir, env=_environment(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("approved 420.00 for ada")

    serve = _readme_command(r"\.venv/bin/workflows serve \S+")
    with serving(serve, cwd=workdir, env=_environment(), start_timeout=EXAMPLE_TIMEOUT) as url:
        import httpx

        workflows = httpx.get(f"{url}/workflows", timeout=10).json()["workflows"]
        assert [w["name"] for w in workflows] == ["expense"]
        assert workflows[0]["response_schema"]["properties"]["approved"]["type"] == "boolean"
    assert (workdir / "workflows.db").is_file()
