"""Where the request audit log ends: the start of a reader that wants what comes next.

The store's request audit log (:meth:`~workflows.stores.RunStore.audit_after`) is the
server's ordered feed of request changes: the webhook sender and the inbox stream both
follow it with a cursor, and both start a new cursor where the log ends now. The log
only grows (one entry per change of any request, kept for good), so that end is found
by probing, not by reading the log: ``audit_after(x, limit=1)`` says whether an entry
lies past ``x``, and a galloping then binary search needs about two probes per bit of
the last id (some 35 small reads at a million entries) instead of a read of every entry.
"""

from __future__ import annotations

from ..stores import RunStore

__all__ = ["audit_end"]


async def audit_end(store: RunStore, after: int = 0) -> int:
    """The id of the last entry of ``store``'s audit log; ``after`` if none is past it.

    Every entry with a larger id was appended after this was called: a cursor set to the
    result misses nothing that happens from then on. An entry appended while the end is
    being looked for may end up on either side of it.

    Raises:
        StoreError: the store could not be read.
    """
    first = await store.audit_after(after, limit=1)
    if not first:
        return after
    low, step = first[0].id, 1  # an entry with id ``low`` exists
    while beyond := await store.audit_after(low + step, limit=1):
        low, step = beyond[0].id, step * 2
    high = low + step  # no entry lies past ``high``
    while low < high:
        middle = (low + high + 1) // 2
        found = await store.audit_after(middle - 1, limit=1)
        if found:
            low = found[0].id
        else:
            high = middle - 1
    return low
