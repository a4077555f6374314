"""What readers of an engine's stored runs need besides :class:`Engine`'s methods.

For the layers of this package (the server, the CLI), not for users; may change
between minor versions. The reads themselves (runs, requests, stream entries) are
methods of :class:`~workflows.engine.Engine`; this module adds what turns their
records into views: the types a stored value of a workflow may decode to, the
response type a workflow's prompts take, and which waiter a request id names.
"""

from __future__ import annotations

from ..runtime.host import registry_for
from ._durable_run import response_type_for_prompts, waiter_key_of

__all__ = ["registry_for", "response_type_for_prompts", "waiter_key_of"]
