"""Deadline-bound waiting on an observed state: the one way tests wait (they never sleep to synchronise).

`wait_for` polls a plain function, `wait_for_async` awaits a coroutine function; both return the first
truthy value and fail at the deadline naming what was awaited, the last value (or error) seen, and
`explain()` when given (say, the workflow's status and the cluster's objects).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class _Deadline:
    def __init__(self, what: str, timeout: float, explain: Callable[[], str] | None) -> None:
        self.what, self.timeout, self.explain = what, timeout, explain
        self.end = time.monotonic() + timeout
        self.last: object = None

    def passed(self) -> bool:
        return time.monotonic() > self.end

    def failure(self) -> AssertionError:
        context = f"\n{self.explain()}" if self.explain else ""
        return AssertionError(
            f"timed out after {self.timeout:g}s waiting for {self.what}; last: {self.last!r}{context}"
        )


def wait_for(
    check: Callable[[], T | None],
    what: str = "condition",
    *,
    timeout: float = 60.0,
    interval: float = 0.2,
    explain: Callable[[], str] | None = None,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `check` until it returns something truthy; errors in `tolerate` count as "not yet"."""
    deadline = _Deadline(what, timeout, explain)
    while True:
        try:
            value = check()
        except tolerate as error:
            value, deadline.last = None, error
        else:
            deadline.last = value
        if value:
            return value
        if deadline.passed():
            raise deadline.failure()
        time.sleep(interval)


async def wait_for_async(
    check: Callable[[], Awaitable[T | None]],
    what: str = "condition",
    *,
    timeout: float = 60.0,
    interval: float = 0.05,
    explain: Callable[[], str] | None = None,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """`wait_for` for a coroutine function, yielding to the event loop between polls."""
    deadline = _Deadline(what, timeout, explain)
    while True:
        try:
            value = await check()
        except tolerate as error:
            value, deadline.last = None, error
        else:
            deadline.last = value
        if value:
            return value
        if deadline.passed():
            raise deadline.failure()
        await asyncio.sleep(interval)
