"""Helpers for testing workflows.

::

    result = await WorkflowTestRunner(MyWorkflow()).run(topic="x")
    assert result.result == "done"
    assert result.event_types[ProgressEvent] == 3
"""

from .runner import WorkflowTestResult, WorkflowTestRunner

__all__ = ["WorkflowTestResult", "WorkflowTestRunner"]
