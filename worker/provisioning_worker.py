"""The provisioning worker process: `python -m worker`.

SIGTERM (a Kubernetes rollout) stops polling, lets running activities finish for the configured grace,
then exits; set the pod's terminationGracePeriodSeconds above `KAITO_GRACEFUL_SHUTDOWN`.
"""

import asyncio
import logging

from temporalio.worker import Worker

from connections.temporal import TemporalSettings, connect
from worker.clients import azure_credential, container_service, kubernetes_api
from worker.lifecycle import serve_until_signalled
from worker.registry import WORKFLOWS, activity_config, provisioning_activities
from worker.settings import WorkerSettings


async def run(settings: WorkerSettings, temporal: TemporalSettings) -> None:
    client = await connect(temporal)
    credential = azure_credential(settings)
    azure = container_service(settings, credential)
    kube = kubernetes_api(settings)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=provisioning_activities(activity_config(settings), azure, kube),
        graceful_shutdown_timeout=settings.graceful_shutdown,
        max_concurrent_activities=settings.max_concurrent_activities,
    )
    try:
        await serve_until_signalled(
            worker, f"worker polling {settings.task_queue} on {temporal.address}/{temporal.namespace}"
        )
    finally:
        await azure.close()
        await credential.close()
        kube.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(WorkerSettings(), TemporalSettings()))


if __name__ == "__main__":
    main()
