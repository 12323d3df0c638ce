"""Deadline-bound waiting on an observed state: the one way tests wait (they never sleep to synchronise).

`wait_for` polls a plain function, `wait_for_async` awaits a coroutine function; both return the first
truthy value and fail at the deadline naming what was awaited, the last value (or error) seen, and
`explain()` when given (say, the workflow's status and the cluster's objects).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypedDict, TypeVar, Unpack

T = TypeVar("T")


class WaitOptions(TypedDict, total=False):
    timeout: float  # seconds until the wait fails (default 60)
    interval: float  # seconds between polls (default 0.2 for wait_for, 0.05 for wait_for_async)
    explain: Callable[[], str]  # what to add to the failure, called only when the deadline passes
    tolerate: tuple[type[BaseException], ...]  # errors that count as "not yet"


class _Poll(Generic[T]):
    def __init__(self, what: str, default_interval: float, options: WaitOptions) -> None:
        self.what = what
        self.timeout = options.get("timeout", 60.0)
        self.interval = options.get("interval", default_interval)
        self.explain = options.get("explain")
        self.tolerate = options.get("tolerate", ())
        self.end = time.monotonic() + self.timeout
        self.value: T | None = None
        self.last: object = None

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """Around one poll: a tolerated error is remembered as the last thing seen, and means not yet."""
        self.value = None
        try:
            yield
        except self.tolerate as error:
            self.last = error
        else:
            self.last = self.value

    def settled(self) -> bool:
        """True once the value is truthy; raises when the deadline has passed without it."""
        if self.value:
            return True
        if time.monotonic() > self.end:
            context = f"\n{self.explain()}" if self.explain else ""
            raise AssertionError(
                f"timed out after {self.timeout:g}s waiting for {self.what}; last: {self.last!r}{context}"
            )
        return False


def wait_for(check: Callable[[], T | None], what: str = "condition", **options: Unpack[WaitOptions]) -> T:
    """Poll `check` until it returns something truthy, and return that."""
    poll: _Poll[T] = _Poll(what, 0.2, options)
    while True:
        with poll.attempt():
            poll.value = check()
        if poll.settled():
            return poll.value  # type: ignore[return-value]  # truthy, so not None
        time.sleep(poll.interval)


async def wait_for_async(
    check: Callable[[], Awaitable[T | None]], what: str = "condition", **options: Unpack[WaitOptions]
) -> T:
    """`wait_for` for a coroutine function, yielding to the event loop between polls."""
    poll: _Poll[T] = _Poll(what, 0.05, options)
    while True:
        with poll.attempt():
            poll.value = await check()
        if poll.settled():
            return poll.value  # type: ignore[return-value]  # truthy, so not None
        await asyncio.sleep(poll.interval)
