"""Waiting on Azure inside an activity: heartbeats while an operation runs, and the pacing of re-checks.

A long-running ARM operation (an agent pool create, a cluster update) takes minutes. The activity awaits
the SDK's poller and heartbeats meanwhile, so Temporal notices a dead worker within the heartbeat timeout
and a cancellation reaches the activity. When someone else's operation is running on the resource (409
OperationNotAllowed, or a provisioningState like Creating) there is no poller to await, so the activity
re-reads the resource every `poll_seconds` until it settles.
"""

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio import activity

T = TypeVar("T")


@dataclass(frozen=True)
class Waits:
    """Pacing of one activity attempt (the defaults suit real Azure; tests shorten them)."""

    poll_seconds: float = 10.0  # between GETs while another operation runs on the resource
    heartbeat_seconds: float = 10.0  # between heartbeats while our own operation runs
    busy_rounds: int = 60  # 409 conflicts tolerated in one attempt before it fails (retryably)


def heartbeat(*details: Any) -> None:
    """Heartbeat when running as an activity; a no-op when called directly (scripts, unit tests)."""
    if activity.in_activity():
        activity.heartbeat(*details)


async def with_heartbeats(work: Awaitable[T], detail: str, every: float) -> T:
    """Await `work` (usually `poller.result()`), heartbeating `detail` every `every` seconds.

    If the activity is cancelled the work is cancelled too: the poller stops, the ARM operation goes on
    in Azure, and the retried or next activity finds it by re-reading the resource.
    """
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            heartbeat(detail)
    finally:
        if not task.done():
            task.cancel()
