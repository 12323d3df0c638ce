"""Deadline-bound waiting for cluster conditions: tests never sleep to synchronise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], *, timeout: float = 60.0, what: str = "condition") -> T:
    """Poll `condition` until it returns a truthy value and return that value.

    Fails with the last value (or exception) after `timeout` seconds. Polling is the waiting
    mechanism here, not the synchronisation: every wait ends on an observed state.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = condition()
        except Exception as e:  # transient API errors while the state settles
            value, last = None, e
        else:
            last = value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(0.2)
