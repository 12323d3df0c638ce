"""The bootstrap worker: `python -m worker.bootstrap_worker`.

It serves the cluster-bootstrap workflow on its own task queue (`kaito-bootstrap`) with the operator's
own credentials: an Azure identity allowed to change the cluster, create identities and assign roles
(DefaultAzureCredential: AZURE_CLIENT_ID/SECRET/TENANT_ID, or the Azure CLI) and an admin kubeconfig
(KAITO_KUBECONFIG) for the cluster. The provisioning worker never sees either: it runs on its own queue
as the managed identity this workflow federates (task queues separate credential domains).
"""

import asyncio
import logging

from temporalio.worker import Worker

from activities.azure_identity import IdentityActivities
from activities.cluster_setup import ClusterSetupActivities, ComponentDefaults
from connections.temporal import TemporalSettings, connect
from worker.clients import (
    authorization,
    azure_credential,
    container_service,
    kubernetes_api,
    managed_identity,
)
from worker.lifecycle import serve_until_signalled
from worker.settings import BootstrapSettings
from workflows.bootstrap_workflow import BootstrapWorkflow


def component_defaults(settings: BootstrapSettings) -> ComponentDefaults:
    return ComponentDefaults(
        image=settings.component_image,
        temporal_address=settings.component_temporal_address,
        temporal_namespace=settings.component_temporal_namespace,
    )


async def run(settings: BootstrapSettings, temporal: TemporalSettings) -> None:
    client = await connect(temporal)
    credential = azure_credential(settings)
    aks = container_service(settings, credential)
    msi = managed_identity(settings, credential)
    authz = authorization(settings, credential)
    kube = kubernetes_api(settings)
    identities = IdentityActivities(aks, msi, authz)
    setup = ClusterSetupActivities(kube, component_defaults(settings))
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BootstrapWorkflow],
        activities=[
            identities.enable_cluster_workload_identity,
            identities.read_cluster_issuer,
            identities.ensure_user_assigned_identity,
            identities.ensure_role_assignment,
            identities.ensure_federated_credential,
            setup.check_kube_target,
            setup.install_workspace_crd,
            setup.apply_identity_and_rbac,
            setup.apply_components,
        ],
        graceful_shutdown_timeout=settings.graceful_shutdown,
    )
    try:
        await serve_until_signalled(
            worker, f"bootstrap worker polling {settings.task_queue} on {temporal.address}"
        )
    finally:
        for azure in (aks, msi, authz):
            await azure.close()
        await credential.close()
        kube.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(BootstrapSettings(), TemporalSettings()))


if __name__ == "__main__":
    main()
