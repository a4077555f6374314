"""One-line summaries of pydantic validation errors, worded alike in every layer.

For the layers of this package (the server's and the CLI's messages), not for users;
may change between minor versions.
"""

from __future__ import annotations

from .._validation_text import validation_summary

__all__ = ["validation_summary"]
