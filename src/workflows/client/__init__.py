"""A Python client for the workflows HTTP server, mirroring the local handler API.

::

    from workflows.client import WorkflowClient

    async with WorkflowClient("http://127.0.0.1:8000", workflows=[Approval()]) as client:
        handle = await client.start("approval", amount=420)
        async for event in handle.stream_events():
            ...
        result = await handle

Needs the ``server`` extra (``pip install 'durable-workflows[server]'``) for httpx.
"""

from __future__ import annotations

try:
    import httpx  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError(
        "workflows.client needs httpx: pip install 'durable-workflows[server]'"
    ) from None

from ._client import WorkflowClient
from ._errors import (
    ClientError,
    ForbiddenError,
    RunFailedError,
    ServerUnreachableError,
    UnauthorizedError,
)
from ._events import GenericEvent
from ._handle import RemoteHandle
from ._models import (
    AuditEntryInfo,
    CheckpointInfo,
    CheckpointViewInfo,
    InputRequestInfo,
    InputRequestPage,
    OpenWaitInfo,
    PendingEventInfo,
    RunInfo,
    UserInfo,
    WorkflowInfo,
)

__all__ = [
    "AuditEntryInfo",
    "CheckpointInfo",
    "CheckpointViewInfo",
    "ClientError",
    "ForbiddenError",
    "GenericEvent",
    "InputRequestInfo",
    "InputRequestPage",
    "OpenWaitInfo",
    "PendingEventInfo",
    "RemoteHandle",
    "RunFailedError",
    "RunInfo",
    "ServerUnreachableError",
    "UnauthorizedError",
    "UserInfo",
    "WorkflowClient",
    "WorkflowInfo",
]
