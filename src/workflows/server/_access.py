"""The rules of who may read, answer and reassign an input request, as HTTP answers.

What each caller may see and answer is decided by the store's one definition
(:func:`~workflows.stores.visible_to`, :func:`~workflows.stores.may_answer`); here it
becomes a 404 (a request the caller may not see is answered as if it did not exist)
or a 403.
"""

from __future__ import annotations

from ..errors import InputRequestNotFoundError
from ..stores import InputRequest, may_answer, visible_to
from ._errors import ApiError
from ._identity import Identity
from ._state import ServerState

__all__ = ["check_may_answer", "check_may_reassign", "visible_request"]


async def visible_request(state: ServerState, identity: Identity, request_id: str) -> InputRequest:
    """The input request, if ``identity`` may see it.

    Raises:
        InputRequestNotFoundError: no such request, or one the caller may not see
            (the same 404 either way).
    """
    found = await state.engine.request(request_id)
    if not visible_to(identity.viewer, found):
        raise InputRequestNotFoundError(request_id)
    return found


def check_may_answer(identity: Identity, request: InputRequest) -> None:
    """Refuse (403) an answer by a caller who sees ``request`` but may not answer it
    (it is assigned to someone else)."""
    if not may_answer(identity.viewer, request):
        raise ApiError(
            "forbidden",
            f"input request {request.request_id!r} is assigned to {request.assignee!r}: "
            "only they (or an admin) may answer it",
        )


def check_may_reassign(identity: Identity, request: InputRequest, what: str) -> None:
    """Refuse (403) a change of ``request``'s assignee by a caller who is neither its
    assignee nor an admin (``what``: the change, for the message)."""
    if identity.admin or (request.assignee is not None and request.assignee == identity.user):
        return
    holder = "nobody" if request.assignee is None else repr(request.assignee)
    raise ApiError(
        "forbidden",
        f"only the assignee or an admin may {what} input request {request.request_id!r} "
        f"(assigned to {holder})",
    )
