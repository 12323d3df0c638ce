"""How both worker processes run: settings from the environment, then a Temporal worker until a signal.

Missing or malformed settings stop the process before it connects anywhere: one line each, exit code 2.
On SIGTERM (a Kubernetes rollout) the worker stops polling and gives running activities its graceful
shutdown time (`KAITO_GRACEFUL_SHUTDOWN`); set the pod's terminationGracePeriodSeconds above it.
"""

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from temporalio.worker import Worker

from connections.temporal import TemporalSettings, connect
from worker.settings import AzureWorkerSettings, from_environment

log = logging.getLogger("kaito.worker")
S = TypeVar("S", bound=AzureWorkerSettings)


async def serve_until_signalled(
    settings: AzureWorkerSettings,
    temporal: TemporalSettings,
    *,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    **options: Any,
) -> None:
    """Poll the settings' task queue with these workflows and activities until SIGTERM or SIGINT."""
    worker = Worker(
        await connect(temporal),
        task_queue=settings.task_queue,
        workflows=workflows,
        activities=activities,
        graceful_shutdown_timeout=settings.graceful_shutdown,
        **options,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info("polling %s on %s/%s", settings.task_queue, temporal.address, temporal.namespace)
        await stop.wait()
        log.info("shutting down: finishing running activities before the worker stops")


def run_process(run: Callable[[S, TemporalSettings], Coroutine[Any, Any, None]], settings: type[S]) -> None:
    """A worker process's `main`: log to stderr, read its settings and Temporal's, run until signalled."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(from_environment(settings), from_environment(TemporalSettings)))
