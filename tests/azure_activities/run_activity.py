"""Running an activity as the tests need: one attempt directly (`Activities`, recording heartbeats), or
through a real worker under a real retry policy (`run_in_temporal`), so a test sees exactly what Temporal
does with an activity's ApplicationError: retry it (after its `next_retry_delay`), or stop at a
non-retryable one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

T = TypeVar("T")


@dataclass
class Activities:
    """Runs activities as Temporal would run one attempt, recording every heartbeat."""

    heartbeats: list[Any] = field(default_factory=list)

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        env = ActivityEnvironment()
        env.on_heartbeat = lambda *details: self.heartbeats.extend(details)
        return await env.run(fn, *args)

    async def fails(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> ApplicationError:
        with pytest.raises(ApplicationError) as err:
            await self.run(fn, *args)
        return err.value


class ActivityCall(BaseModel):
    activity: str
    arg: dict[str, Any]
    maximum_attempts: int = 5
    initial_interval_ms: int = 100
    start_to_close_seconds: float = 60.0
    heartbeat_seconds: float = 10.0


@workflow.defn(name="RunOneActivity", sandboxed=False)
class RunOneActivity:
    """A one-step workflow: run one activity by name under a real retry policy."""

    @workflow.run
    async def run(self, call: ActivityCall) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_activity(
            call.activity,
            call.arg,
            result_type=dict,
            start_to_close_timeout=timedelta(seconds=call.start_to_close_seconds),
            heartbeat_timeout=timedelta(seconds=call.heartbeat_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=call.initial_interval_ms),
                backoff_coefficient=1.0,
                maximum_attempts=call.maximum_attempts,
            ),
        )
        return result


@dataclass
class Outcome:
    result: dict[str, Any] | None
    error: BaseException | None
    attempts: int  # the attempt that finished (Temporal records only the last attempt's start)
    failures: list[str]  # every failed attempt's ApplicationError message, in order
    history: WorkflowHistory


class _RecordFailures(Interceptor):
    """Keeps the message of each attempt's ApplicationError (the server keeps only the last)."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        failures = self.failures

        class Recording(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                try:
                    return await super().execute_activity(input)
                except ApplicationError as err:
                    failures.append(err.message)
                    raise

        return Recording(next)


@asynccontextmanager
async def worker(
    client: Client, activities: list[Callable[..., Any]], recorder: _RecordFailures
) -> AsyncIterator[str]:
    queue = f"azure-activities-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RunOneActivity],
        activities=activities,
        interceptors=[recorder],
    ):
        yield queue


async def run_in_temporal(
    env: WorkflowEnvironment,
    activities: list[Callable[..., Any]],
    name: str,
    arg: BaseModel,
    *,
    maximum_attempts: int = 5,
) -> Outcome:
    """Run one activity through a real worker, its retry policy enforced by the Temporal server.

    Time does not skip: the emulator's operations take wall-clock time, so a retry waits for real (after
    the policy's 100 ms, or the activity's `next_retry_delay`) and each attempt sees what has happened.
    """
    payload = arg.model_dump(mode="json")
    recorder = _RecordFailures()
    async with worker(env.client, activities, recorder) as queue:
        handle = await env.client.start_workflow(
            RunOneActivity.run,
            ActivityCall(activity=name, arg=payload, maximum_attempts=maximum_attempts),
            id=f"run-{name}-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(minutes=2),
        )
        result: dict[str, Any] | None = None
        error: BaseException | None = None
        with env.auto_time_skipping_disabled():
            try:
                result = await handle.result()
            except Exception as exc:
                error = exc
        history = await handle.fetch_history()
    starts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    return Outcome(result, error, starts[-1] if starts else 0, recorder.failures, history)
