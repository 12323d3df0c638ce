"""The bootstrap worker: `python -m worker.bootstrap_worker`.

It serves the cluster-bootstrap workflow on its own task queue (`kaito-bootstrap`) with the operator's
own credentials: an Azure identity allowed to change the cluster, create identities and assign roles
(DefaultAzureCredential: AZURE_CLIENT_ID/SECRET/TENANT_ID, or the Azure CLI) and an admin kubeconfig
(KAITO_KUBECONFIG) for the cluster. The provisioning worker never sees either: it runs on its own queue
as the managed identity this workflow federates (task queues separate credential domains).
"""

from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient

from activities.azure_identity import IdentityActivities
from activities.cluster_setup import ClusterSetupActivities, ComponentDefaults
from connections.temporal import TemporalSettings
from worker.clients import worker_clients
from worker.lifecycle import run_process, serve_until_signalled
from worker.settings import BootstrapSettings
from workflows.bootstrap_workflow import BootstrapWorkflow


def component_defaults(settings: BootstrapSettings) -> ComponentDefaults:
    return ComponentDefaults(
        image=settings.component_image,
        temporal_address=settings.component_temporal_address,
        temporal_namespace=settings.component_temporal_namespace,
    )


async def run(settings: BootstrapSettings, temporal: TemporalSettings) -> None:
    async with worker_clients(settings) as clients:
        identities = IdentityActivities(
            clients.arm(ContainerServiceClient),
            clients.arm(ManagedServiceIdentityClient),
            clients.arm(AuthorizationManagementClient),
        )
        setup = ClusterSetupActivities(clients.kube, component_defaults(settings))
        await serve_until_signalled(
            settings,
            temporal,
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
        )


def main() -> None:
    run_process(run, BootstrapSettings)


if __name__ == "__main__":
    main()
