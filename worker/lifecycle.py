"""How both worker processes run: settings from the environment, then a Temporal worker until a signal.

Missing or malformed settings stop the process before it connects anywhere: one line each, exit code 2.
On SIGTERM (a Kubernetes rollout) the worker stops polling and gives running activities its graceful
shutdown time (`KAITO_GRACEFUL_SHUTDOWN`); set the pod's terminationGracePeriodSeconds above it.
Observability comes from the same settings: Prometheus metrics (`KAITO_METRICS_ADDRESS`), OTLP traces
(`KAITO_TRACING_OTLP_ENDPOINT`) and JSON logs (`KAITO_LOG_FORMAT`).
"""

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from temporalio.worker import Interceptor, Worker

from connections.temporal import TemporalSettings, connect
from worker.logging_json import configure_logging
from worker.metrics import ArmErrorMetricsInterceptor, FleetSampler, install_prometheus_runtime
from worker.metrics_workflow import PhaseMetricsInterceptor
from worker.settings import AzureWorkerSettings, from_environment
from worker.tracing import otlp_tracing

log = logging.getLogger("kaito.worker")
S = TypeVar("S", bound=AzureWorkerSettings)


async def serve_until_signalled(
    settings: AzureWorkerSettings,
    temporal: TemporalSettings,
    *,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    fleet_metrics: bool = False,
    **options: Any,
) -> None:
    """Poll the settings' task queue with these workflows and activities until SIGTERM or SIGINT.

    With metrics on, the SDK runtime serves Prometheus before the client connects, the interceptors
    record ours, and `fleet_metrics` (the provisioning worker) samples the fleet's gauges."""
    runtime = install_prometheus_runtime(settings.metrics_address)
    interceptors: list[Interceptor] = [PhaseMetricsInterceptor(), ArmErrorMetricsInterceptor()]
    tracing = (
        otlp_tracing(settings.tracing_otlp_endpoint, f"kaito-{settings.task_queue}")
        if settings.tracing_otlp_endpoint
        else None
    )
    if tracing is not None:
        interceptors.append(tracing.interceptor)
    client = await connect(temporal)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=workflows,
        activities=activities,
        graceful_shutdown_timeout=settings.graceful_shutdown,
        interceptors=interceptors,
        **options,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # The activities' blocking calls (the Kubernetes client) run in the loop's default executor.
    loop.set_default_executor(ThreadPoolExecutor(settings.kube_threads, thread_name_prefix="blocking"))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sampler: asyncio.Task[None] | None = None
    if runtime is not None and fleet_metrics:
        fleet = FleetSampler(client, runtime.metric_meter, settings.metrics_sample_interval)
        sampler = asyncio.create_task(fleet.run(), name="fleet-metrics")
    try:
        async with worker:
            log.info("polling %s on %s/%s", settings.task_queue, temporal.address, temporal.namespace)
            await stop.wait()
            log.info("shutting down: finishing running activities before the worker stops")
    finally:
        if sampler is not None:
            sampler.cancel()
        if tracing is not None:
            tracing.shutdown()


def run_process(run: Callable[[S, TemporalSettings], Coroutine[Any, Any, None]], settings: type[S]) -> None:
    """A worker process's `main`: read its settings and Temporal's, log as they say, run until signalled."""
    chosen = from_environment(settings)
    configure_logging(chosen.log_format)
    asyncio.run(run(chosen, from_environment(TemporalSettings)))
