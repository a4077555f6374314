"""Types of the runtime that user code may import (see :mod:`.results`)."""

__all__: list[str] = []
