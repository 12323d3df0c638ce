"""Azure and Kubernetes clients from settings: the only place that knows endpoints and credentials."""

from typing import Any, cast

from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.containerservice.aio import ContainerServiceClient
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from worker.settings import WorkerSettings


def azure_transport_kwargs(settings: WorkerSettings) -> dict[str, Any]:
    """Trust a private CA (the local cloud's emulator) when a bundle is configured."""
    return {"connection_verify": str(settings.azure_ca_bundle)} if settings.azure_ca_bundle else {}


def azure_credential(settings: WorkerSettings) -> DefaultAzureCredential:
    """Workload identity in-cluster (AZURE_CLIENT_ID/TENANT_ID/FEDERATED_TOKEN_FILE), else env or CLI."""
    kwargs = azure_transport_kwargs(settings)
    if settings.azure_authority:
        # A private authority (the local cloud's Entra) has no instance-discovery metadata to fetch.
        kwargs["authority"] = settings.azure_authority
        kwargs["disable_instance_discovery"] = True
    return DefaultAzureCredential(**kwargs)


def container_service(settings: WorkerSettings, credential: DefaultAzureCredential) -> ContainerServiceClient:
    return ContainerServiceClient(
        credential,
        settings.subscription_id,
        base_url=settings.arm_endpoint,
        credential_scopes=[settings.arm_scope],
        **azure_transport_kwargs(settings),
    )


def kubernetes_api(settings: WorkerSettings) -> kube_client.ApiClient:
    """From a kubeconfig when one is set, otherwise the pod's service account."""
    if settings.kubeconfig:
        return cast(
            kube_client.ApiClient, kube_config.new_client_from_config(config_file=str(settings.kubeconfig))
        )
    configuration = kube_client.Configuration()
    kube_config.load_incluster_config(client_configuration=configuration)
    return kube_client.ApiClient(configuration)
