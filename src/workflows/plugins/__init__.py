"""Runtimes a workflow can run on.

This package runs every workflow on its own in-process runtime (durable runs go through
:class:`workflows.engine.Engine` instead). ``basic_runtime`` names that runtime so code
written for LlamaIndex Workflows, which passes ``Workflow(runtime=basic_runtime)`` or calls
``get_current_runtime()``, keeps working.
"""

from ._basic import BasicRuntime, basic_runtime, get_current_runtime

__all__ = ["BasicRuntime", "basic_runtime", "get_current_runtime"]
