"""A one-step workflow: run one activity by name under a real retry policy, so a test sees exactly what
Temporal does with an activity's ApplicationError (retry it with backoff, or stop at a non-retryable one).
"""

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy


class ActivityCall(BaseModel):
    activity: str
    arg: dict[str, Any]
    maximum_attempts: int = 5
    initial_interval_ms: int = 100
    start_to_close_seconds: float = 60.0
    heartbeat_seconds: float = 10.0


@workflow.defn(name="RunOneActivity", sandboxed=False)
class RunOneActivity:
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
