"""``workflows.plugins.basic``: the in-process runtime (see :mod:`workflows.plugins`)."""

from ._basic import BasicRuntime, basic_runtime, get_current_runtime

__all__ = ["BasicRuntime", "basic_runtime", "get_current_runtime"]
