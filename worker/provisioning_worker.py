"""The provisioning worker process: `python -m worker`.

It serves the workspace and sweep workflows and every provisioning activity on `kaito-provisioning`, as
the managed identity the bootstrap federated (workload identity in-cluster); see `worker.lifecycle` for
settings and shutdown.
"""

from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient

from connections.temporal import TemporalSettings
from worker.clients import worker_clients
from worker.lifecycle import run_process, serve_until_signalled
from worker.registry import WORKFLOWS, activity_config, provisioning_activities
from worker.settings import WorkerSettings


async def run(settings: WorkerSettings, temporal: TemporalSettings) -> None:
    async with worker_clients(settings) as clients:
        azure = clients.arm(ContainerServiceClient)
        await serve_until_signalled(
            settings,
            temporal,
            workflows=WORKFLOWS,
            activities=provisioning_activities(
                activity_config(settings), azure, clients.kube, clients.arm(ComputeManagementClient)
            ),
            max_concurrent_activities=settings.max_concurrent_activities,
            fleet_metrics=True,
        )


def main() -> None:
    run_process(run, WorkerSettings)


if __name__ == "__main__":
    main()
