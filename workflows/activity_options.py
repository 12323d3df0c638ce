"""How long each activity may run, how often it must heartbeat and how it retries: one row per activity.

Workflows start activities through `start_activity`, which looks the options up by name, so a call site
says only what it runs and why.

A worker that dies (SIGKILL, a node lost) tells Temporal nothing: its attempt is retried only once a
timeout expires. So every timeout here is sized to the work, and none is minutes long for work that does
not heartbeat: a short step (a few Kubernetes calls, one health probe) has a 30 s start-to-close, and an
ARM long-running operation, minutes of VM work, heartbeats (on each HTTP try of its ARM client, and every
`activities.azure_waits.Waits.heartbeat_every`, 10 s, while it waits on the SDK's poller) under a 20 s
heartbeat timeout; the SDK sends at most one heartbeat per 0.8 × the timeout, so beats arrive in time.
Either way a killed worker's attempt is retried within about 30 s.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.sweep_contracts import SweepActivity
from workflows.workspace_contracts import ActivityName

T = TypeVar("T")

# Transient failures (429, 5xx, a dropped connection) retry with backoff; activities mark what no retry
# can fix (invalid spec, quota, authorization) non-retryable themselves.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1)
)


@dataclass(frozen=True)
class ActivityOptions:
    start_to_close: timedelta
    heartbeat: timedelta | None = None
    retry: RetryPolicy = field(default_factory=lambda: RETRY)
    schedule_to_close: timedelta | None = None


# A killed worker's attempt is retried after at most this: the bound every timeout below keeps.
RETRY_AFTER_WORKER_LOSS = timedelta(seconds=30)

SHORT = ActivityOptions(start_to_close=timedelta(seconds=30))
# An ARM long-running operation on a GPU pool: minutes of VM work, heartbeating while it polls.
POOL_OPERATION = ActivityOptions(start_to_close=timedelta(minutes=30), heartbeat=timedelta(seconds=20))
# The sweep reads counters every run: a few quick attempts, then the next run tries again.
SWEEP_READ = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1)),
)

OPTIONS: dict[str, ActivityOptions] = {
    ActivityName.VALIDATE: SHORT,
    ActivityName.ENSURE_OBJECT: SHORT,
    ActivityName.DELETE_OBJECT: SHORT,
    ActivityName.ENSURE_AGENT_POOL: POOL_OPERATION,
    ActivityName.SCALE_AGENT_POOL: POOL_OPERATION,
    ActivityName.DELETE_AGENT_POOL: POOL_OPERATION,
    ActivityName.COUNT_READY_NODES: SHORT,
    ActivityName.ENSURE_INFERENCE: SHORT,
    ActivityName.SCALE_INFERENCE: SHORT,
    ActivityName.COUNT_READY_REPLICAS: SHORT,
    ActivityName.DELETE_INFERENCE: SHORT,
    ActivityName.CHECK_CAPACITY: SHORT,
    ActivityName.ROUTE_TO_GATEWAY: SHORT,
    ActivityName.ROUTE_TO_MODEL: SHORT,
    ActivityName.WAKE_CAPACITY_WAITERS: ActivityOptions(
        start_to_close=timedelta(seconds=30), schedule_to_close=timedelta(minutes=2)
    ),
    # A model server that has just loaded may still refuse a request or two.
    ActivityName.CHECK_HEALTH: ActivityOptions(
        start_to_close=timedelta(seconds=30),
        retry=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=10),
    ),
    # Best effort within a budget: the status query stays authoritative while the cluster is unreachable.
    ActivityName.WRITE_STATUS: ActivityOptions(
        start_to_close=timedelta(seconds=30), schedule_to_close=timedelta(minutes=2)
    ),
    SweepActivity.LIST_CANDIDATES: SWEEP_READ,
    SweepActivity.SAMPLE_TRAFFIC: SWEEP_READ,
}


def start_activity(
    name: ActivityName | SweepActivity, *args: Any, result_type: type[T], summary: str
) -> workflow.ActivityHandle[T]:
    """Schedule activity `name` with its row's options; `summary` is what the Temporal UI shows."""
    options = OPTIONS[name]
    return workflow.start_activity(
        name,
        args=list(args),
        result_type=result_type,
        start_to_close_timeout=options.start_to_close,
        schedule_to_close_timeout=options.schedule_to_close,
        heartbeat_timeout=options.heartbeat,
        retry_policy=options.retry,
        summary=summary,
    )
