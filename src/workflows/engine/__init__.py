"""The durable engine: runs committed to a store at every step boundary.

See :class:`Engine` and ``docs/durability.md``.
"""

from ._engine import Engine
from ._handle import RunHandle

__all__ = ["Engine", "RunHandle"]
