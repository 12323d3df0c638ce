"""Waiting on Azure: which waits an activity attempt does itself, and which it leaves to Temporal.

* Another operation running on the resource (someone else's, or ours from an attempt whose worker died)
  is not waited out inside the attempt. The attempt fails retryably (`activities.azure_errors.busy`)
  with `Waits.busy_retry` as Temporal's next retry delay, and the next attempt reads the resource again.
  So the workflow's retry policy owns every such wait: it is visible in the Temporal UI as the attempt
  count and the last failure, it survives a worker restart, and no attempt holds a worker slot meanwhile.
* Our own long-running operation (a pool create, a cluster update) is awaited inside the attempt, on the
  SDK's poller (`await_operation`): abandoning it would lose its outcome, and the next attempt would
  then meet it as "busy" instead. The attempt heartbeats meanwhile, so Temporal notices a dead worker
  within the heartbeat timeout and a cancellation reaches the activity.
"""

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from azure.core.polling import AsyncLROPoller
from temporalio import activity

T = TypeVar("T")


@dataclass(frozen=True)
class Waits:
    """Pacing of the Azure activities (the defaults suit real Azure; tests shorten them)."""

    # Temporal's delay before the next attempt while another operation runs on the resource.
    busy_retry: timedelta = timedelta(seconds=10)
    # Between heartbeats while our own operation runs (well under the activities' heartbeat timeout).
    heartbeat_every: timedelta = timedelta(seconds=10)


def heartbeat(*details: Any) -> None:
    """Heartbeat when running as an activity; a no-op when called directly (scripts, unit tests)."""
    if activity.in_activity():
        activity.heartbeat(*details)


async def await_operation(poller: AsyncLROPoller[T], doing: str, waits: Waits) -> T:
    """The result of our own long-running operation, heartbeating `doing` while it runs.

    The one wait an Azure activity does inside its attempt (see the module docstring). If the activity
    is cancelled the wait is cancelled too: the poller stops, the ARM operation goes on in Azure, and the
    next attempt finds it by reading the resource.
    """
    task = asyncio.ensure_future(poller.result())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=waits.heartbeat_every.total_seconds())
            if done:
                return task.result()
            heartbeat(doing)
    finally:
        if not task.done():
            task.cancel()
