"""The worker's one Prometheus endpoint: the Temporal SDK runtime's metrics and ours, on `/metrics`.

Why one endpoint through the SDK: the SDK's Rust core already serves Prometheus for its own metrics
(task latencies, slots, polls, activity and workflow outcomes). Our metrics go through the same
runtime's metric meter, so one port, one scrape config and one ServiceMonitor cover both, and the
workflow-side metrics (phase durations, `worker.metrics_workflow`) are replay-safe because the
workflow meter records nothing during replay — a prometheus_client registry beside it could not be.

What is ours:
- phase durations by phase and SKU, and phase transitions (the workflow interceptor);
- ARM errors by code (this activity interceptor: any ApplicationError `activities.azure_errors.classify`
  built carries ARM's code and status in its details);
- workspaces by state and the GPU-hours and dollars scale-to-zero saved (gauges, sampled from the
  workspaces' status queries every `KAITO_METRICS_SAMPLE_INTERVAL`).
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from worker.metrics_names import (
    ARM_ERRORS,
    GPU_HOURS_SAVED,
    PHASE_BUCKETS,
    PHASE_DURATION,
    USD_SAVED,
    WORKSPACES,
)
from workflows.conditions import STATE_DELETING, STATE_FAILED, STATE_PENDING, STATE_READY, STATE_SUSPENDED
from workflows.workspace_client import RUNNING_WORKSPACES
from workflows.workspace_contracts import STATUS_QUERY, WorkspaceStatus

log = logging.getLogger("kaito.metrics")
STATES = (STATE_PENDING, STATE_READY, STATE_SUSPENDED, STATE_FAILED, STATE_DELETING)
QUERY_TIMEOUT_SECONDS = 10.0


def prometheus_runtime(bind_address: str) -> Runtime:
    """A runtime serving Prometheus on `bind_address` (host:port), our histogram buckets included."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind_address, histogram_bucket_overrides={PHASE_DURATION: list(PHASE_BUCKETS)}
            )
        )
    )


def install_prometheus_runtime(bind_address: str | None) -> Runtime | None:
    """Make the Prometheus runtime the default, before any client connects (clients take the default)."""
    if not bind_address:
        return None
    runtime = prometheus_runtime(bind_address)
    Runtime.set_default(runtime, error_if_already_set=True)
    log.info("serving Prometheus metrics on http://%s/metrics", bind_address)
    return runtime


def arm_error(error: BaseException) -> tuple[str, bool] | None:
    """(ARM code, retryable) of an error `azure_errors.classify` built, else None."""
    if not isinstance(error, ApplicationError) or not error.details:
        return None
    details = error.details[0]
    if not isinstance(details, Mapping) or "code" not in details or "status" not in details:
        return None
    return str(details["code"] or error.type or "Unknown"), not error.non_retryable


class ArmErrorMetricsInterceptor(Interceptor):
    """Counts the ARM errors activities fail with, by code, activity and whether they retry."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ArmErrors(next)


class _ArmErrors(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except Exception as error:
            arm = arm_error(error)
            if arm is not None:
                code, retryable = arm
                activity.metric_meter().create_counter(
                    ARM_ERRORS, "ARM errors activities failed with, by ARM's error code"
                ).add(1, {"code": code, "retryable": str(retryable).lower()})
            raise


class FleetSampler:
    """Gauges of the whole fleet: workspaces by KAITO state, GPU-hours and dollars saved in total."""

    def __init__(self, client: Client, meter: MetricMeter, interval: timedelta) -> None:
        self._client, self._interval = client, interval
        self._workspaces = meter.create_gauge(WORKSPACES, "workspaces by KAITO state")
        self._hours = meter.create_gauge_float(
            GPU_HOURS_SAVED, "GPU-hours scale-to-zero saved, all workspaces"
        )
        self._usd = meter.create_gauge_float(USD_SAVED, "dollars scale-to-zero saved at list prices")

    async def sample_once(self) -> list[WorkspaceStatus]:
        statuses = []
        async for execution in self._client.list_workflows(RUNNING_WORKSPACES):
            handle = self._client.get_workflow_handle(execution.id)
            try:
                statuses.append(
                    await asyncio.wait_for(
                        handle.query(STATUS_QUERY, result_type=WorkspaceStatus), QUERY_TIMEOUT_SECONDS
                    )
                )
            except (RPCError, WorkflowQueryFailedError, TimeoutError):
                continue  # ended meanwhile, or busy: the next sample counts it
        by_state = Counter(s.state for s in statuses)
        for state in {*STATES, *by_state}:
            self._workspaces.set(by_state.get(state, 0), {"state": state})
        self._hours.set(sum(s.gpu_hours_saved for s in statuses))
        self._usd.set(sum(s.usd_saved for s in statuses))
        return statuses

    async def run(self) -> None:
        while True:
            try:
                await self.sample_once()
            except RPCError as error:
                log.warning("could not sample the workspaces for metrics: %s", error.message)
            await asyncio.sleep(self._interval.total_seconds())
