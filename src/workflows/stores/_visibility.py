"""Who may see and who may answer an input request: the one definition.

The SQL stores filter listings with the same rule written in SQL; the contract tests
check that they agree with :func:`visible_to` on generated requests and viewers.
"""

from __future__ import annotations

from workflows.stores._records import InputRequest, Viewer

__all__ = ["may_answer", "visible_to"]


def visible_to(viewer: Viewer, request: InputRequest) -> bool:
    """Whether ``viewer`` may see ``request``.

    An admin sees every request; everyone sees a request that names nobody (no
    assignee, no candidate users or groups); otherwise the request's assignee, its
    candidate users and the members of its candidate groups see it.

    Example::

        visible_to(Viewer("ada", frozenset({"finance"})), request)
    """
    if viewer.admin or request.is_open_to_all:
        return True
    if request.assignee == viewer.user or viewer.user in request.candidate_users:
        return True
    return not viewer.groups.isdisjoint(request.candidate_groups)


def may_answer(viewer: Viewer, request: InputRequest) -> bool:
    """Whether ``viewer`` may answer ``request``: it is visible to them, and it is
    unassigned or assigned to them (an admin may answer any request)."""
    if not visible_to(viewer, request):
        return False
    return viewer.admin or request.assignee is None or request.assignee == viewer.user
