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

__all__ = [
    "answer_forbidden",
    "answer_holder",
    "check_may_answer",
    "check_may_answer_run",
    "check_may_reassign",
    "visible_request",
]


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
        raise answer_forbidden(request.request_id, request.assignee)


def answer_holder(state: ServerState, identity: Identity) -> str | None:
    """Who must hold a request for ``identity``'s answer to it to be stored: the
    caller, when callers are verified users and this one is not an admin, else ``None``
    (anyone's answer). The store decides it in the same write as the answer, so a
    claim by someone else between :func:`check_may_answer` and the answer refuses it."""
    if state.verified_users and not identity.admin:
        return identity.user
    return None


def answer_forbidden(request_id: str, assignee: str | None) -> ApiError:
    """The 403 of an answer to a request that ``assignee`` holds."""
    return ApiError(
        "forbidden",
        f"input request {request_id!r} is assigned to {assignee!r}: "
        "only they (or an admin) may answer it",
    )


async def check_may_answer_run(
    state: ServerState, identity: Identity, run_id: str, what: str
) -> None:
    """With authenticated users, refuse (403) a caller who may not answer every pending
    request of the run (``what``: what they asked to do, for the message). Such an
    action could answer one of them, or change what the person asked will decide on,
    so the rules of who answers a request hold for it too. Admins may do it.
    """
    if not state.verified_users or identity.admin:
        return
    pending = await state.engine.requests(run_id=run_id, status="pending", limit=1000)
    for found in pending:
        if not may_answer(identity.viewer, found):
            raise ApiError(
                "forbidden",
                f"run {run_id!r} waits for input request {found.request_id!r}, which "
                f"{identity.user!r} may not answer: only those who may answer every "
                f"pending request of a run (or an admin) may {what}",
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
