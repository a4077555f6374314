"""Error messages for one line: pydantic's validation reports condensed, URLs dropped."""

from __future__ import annotations

import re

from ..runtime.validation_text import validation_summary

__all__ = ["condense", "one_line", "validation_summary"]

_HEADER = re.compile(r"\d+ validation errors? for [^\n]*\n")
_DETAIL = re.compile(r"\s*\[type=[^\]]*\]\s*$")
_MORE = re.compile(r"^\s*For further information visit \S+\s*$")
_VALUE_ERROR = re.compile(r"^(Value|Assertion) error, ")


def _why(message: str) -> str:
    return _VALUE_ERROR.sub("", message.strip())


def _condense_report(report: str) -> str:
    """pydantic's multi-line report (after its header) as ``field: why; ...``."""
    items: list[str] = []
    where: str | None = None
    for line in report.splitlines():
        if not line.strip() or _MORE.match(line):
            continue
        if not line.startswith(" "):
            where = line.strip()
            continue
        why = _why(_DETAIL.sub("", line))
        items.append(f"{where}: {why}" if where else why)
        where = None
    return "; ".join(items)


def condense(text: str) -> str:
    """``text`` with any pydantic validation report in it condensed to ``field: why``.

    ``"...is invalid: 1 validation error for Decision\\napproved\\n  Field required
    [type=missing, ...]\\n    For further information visit https://..."`` becomes
    ``"...is invalid: approved: Field required"``.
    """
    match = _HEADER.search(text)
    if match is None:
        return "\n".join(line for line in text.splitlines() if not _MORE.match(line))
    condensed = _condense_report(text[match.end() :])
    return text[: match.start()] + (condensed or "invalid")


def one_line(text: str) -> str:
    """``text`` condensed (see :func:`condense`) and folded onto one line."""
    return " ".join(condense(text).split())
