"""Retry conditions: which errors are worth retrying (``retry=`` of ``retry_policy``).

Re-exported by :mod:`workflows.retry_policy`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._retry_base import Component

if TYPE_CHECKING:
    from .retry_policy import RetryCondition

__all__ = [
    "retry_all",
    "retry_always",
    "retry_any",
    "retry_if_exception",
    "retry_if_exception_cause_type",
    "retry_if_exception_message",
    "retry_if_exception_type",
    "retry_if_not_exception_message",
    "retry_if_not_exception_type",
    "retry_never",
    "retry_unless_exception_type",
]


class _RetryBase(Component):
    """Base of retry conditions: ``a | b`` retries if either does, ``a & b`` if both do."""

    def __call__(self, error: BaseException) -> bool:
        raise NotImplementedError

    def __or__(self, other: RetryCondition) -> retry_any:
        return retry_any(self, other)

    def __ror__(self, other: RetryCondition) -> retry_any:
        return retry_any(other, self)

    def __and__(self, other: RetryCondition) -> retry_all:
        return retry_all(self, other)

    def __rand__(self, other: RetryCondition) -> retry_all:
        return retry_all(other, self)


class retry_if_exception(_RetryBase):
    """Retry when ``predicate(error)`` is true.

    Example: ``retry_if_exception(lambda e: "rate limit" in str(e).lower())``.
    """

    def __init__(self, predicate: Callable[[BaseException], bool]) -> None:
        self.predicate = predicate

    def __call__(self, error: BaseException) -> bool:
        return self.predicate(error)


class retry_if_exception_type(retry_if_exception):
    """Retry when the error is an instance of ``exception_types`` (a type or a tuple).

    Example: ``retry_if_exception_type((TimeoutError, ConnectionError))``.
    """

    def __init__(
        self, exception_types: type[BaseException] | tuple[type[BaseException], ...] = Exception
    ) -> None:
        self.exception_types = exception_types
        super().__init__(lambda error: isinstance(error, exception_types))


class retry_if_not_exception_type(retry_if_exception):
    """Retry unless the error is an instance of ``exception_types`` (a type or a tuple).

    Example: ``retry_if_not_exception_type((ValueError, PermissionError))``.
    """

    def __init__(
        self, exception_types: type[BaseException] | tuple[type[BaseException], ...] = Exception
    ) -> None:
        self.exception_types = exception_types
        super().__init__(lambda error: not isinstance(error, exception_types))


class retry_unless_exception_type(retry_if_not_exception_type):
    """Tenacity's name for :class:`retry_if_not_exception_type`."""


class retry_if_exception_message(_RetryBase):
    """Retry when ``str(error)`` equals ``message``, or when the regex ``match`` is found
    in it (``re.search``).

    Give exactly one of the two, else ``TypeError``. ``match`` may be a compiled pattern.

    Example: ``retry_if_exception_message(match=r"HTTP 5\\d\\d")``.
    """

    def __init__(
        self, message: str | None = None, match: str | re.Pattern[str] | None = None
    ) -> None:
        if message is None and match is None:
            raise TypeError(
                "retry_if_exception_message() missing 1 required argument 'message' or 'match'"
            )
        if message is not None and match is not None:
            raise TypeError(
                "retry_if_exception_message() takes either 'message' or 'match', not both"
            )
        self.message = message
        self.match = match
        self._pattern = re.compile(match) if isinstance(match, str) else match

    def __call__(self, error: BaseException) -> bool:
        text = str(error)
        if self.message is not None:
            return text == self.message
        return self._pattern is not None and self._pattern.search(text) is not None


class retry_if_not_exception_message(retry_if_exception_message):
    """Retry unless ``str(error)`` equals ``message`` or contains a ``match`` of the regex.

    Example: ``retry_if_not_exception_message(match="invalid_api_key|permission denied")``.
    """

    def __call__(self, error: BaseException) -> bool:
        return not super().__call__(error)


class retry_if_exception_cause_type(_RetryBase):
    """Retry when an error in the ``__cause__`` chain (``raise X from Y``) is an instance
    of ``exception_types``.

    The error itself and implicit chaining (``__context__``) are not looked at, as in
    tenacity; use :class:`retry_if_exception` for anything else.

    Example: ``retry_if_exception_cause_type(ConnectionError)``.
    """

    def __init__(
        self, exception_types: type[BaseException] | tuple[type[BaseException], ...] = Exception
    ) -> None:
        self.exception_types = exception_types

    def __call__(self, error: BaseException) -> bool:
        seen = {id(error)}
        cause = error.__cause__
        while cause is not None and id(cause) not in seen:
            if isinstance(cause, self.exception_types):
                return True
            seen.add(id(cause))
            cause = cause.__cause__
        return False


class retry_any(_RetryBase):
    """Retry when any of ``retries`` says so (what ``a | b`` builds)."""

    def __init__(self, *retries: RetryCondition) -> None:
        self.retries = retries

    def __call__(self, error: BaseException) -> bool:
        return any(retry(error) for retry in self.retries)


class retry_all(_RetryBase):
    """Retry when all of ``retries`` say so (what ``a & b`` builds)."""

    def __init__(self, *retries: RetryCondition) -> None:
        self.retries = retries

    def __call__(self, error: BaseException) -> bool:
        return all(retry(error) for retry in self.retries)


class retry_always(_RetryBase):
    """Retry every error."""

    def __call__(self, error: BaseException) -> bool:
        return True


class retry_never(_RetryBase):
    """Retry no error."""

    def __call__(self, error: BaseException) -> bool:
        return False
