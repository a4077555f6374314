"""The run context (``Context``), its state store and snapshot serializers."""

from .context import Context
from .serializers import BaseSerializer, JsonSerializer, PickleSerializer
from .state_store import DictState, InMemoryStateStore

__all__ = [
    "BaseSerializer",
    "Context",
    "DictState",
    "InMemoryStateStore",
    "JsonSerializer",
    "PickleSerializer",
]
