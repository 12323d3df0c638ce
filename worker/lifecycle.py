"""Running a Temporal worker until SIGTERM/SIGINT, the way both worker processes do.

On SIGTERM (a Kubernetes rollout) the worker stops polling and gives running activities its graceful
shutdown time; set the pod's terminationGracePeriodSeconds above it.
"""

import asyncio
import logging
import signal

from temporalio.worker import Worker

log = logging.getLogger("kaito.worker")


async def serve_until_signalled(worker: Worker, describe: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info("%s", describe)
        await stop.wait()
        log.info("shutting down: finishing running activities before the worker stops")
