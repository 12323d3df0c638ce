"""Azure and Kubernetes clients from settings: the only place that knows endpoints and credentials."""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from worker.settings import AzureWorkerSettings

log = logging.getLogger("kaito.worker")


def credential_source(environ: dict[str, str] | None = None) -> str:
    """Which credential DefaultAzureCredential will use, from the environment (for the startup log)."""
    env = os.environ if environ is None else environ
    client = env.get("AZURE_CLIENT_ID", "")
    if env.get("AZURE_CLIENT_SECRET") or env.get("AZURE_CLIENT_CERTIFICATE_PATH"):
        return f"service principal {client} (EnvironmentCredential)"
    if client and env.get("AZURE_TENANT_ID") and env.get("AZURE_FEDERATED_TOKEN_FILE"):
        return (
            f"workload identity {client} (WorkloadIdentityCredential, token file "
            f"{env['AZURE_FEDERATED_TOKEN_FILE']})"
        )
    return "the rest of the DefaultAzureCredential chain (managed identity, Azure CLI, ...)"


def azure_transport_kwargs(settings: AzureWorkerSettings) -> dict[str, Any]:
    """Trust a private CA (the local cloud's emulator) when a bundle is configured."""
    return {"connection_verify": str(settings.azure_ca_bundle)} if settings.azure_ca_bundle else {}


def azure_credential(settings: AzureWorkerSettings) -> DefaultAzureCredential:
    """Workload identity in-cluster (AZURE_CLIENT_ID/TENANT_ID/FEDERATED_TOKEN_FILE), else env or CLI."""
    kwargs = azure_transport_kwargs(settings)
    if settings.azure_authority:
        # A private authority (the local cloud's Entra) has no instance-discovery metadata to fetch.
        kwargs["authority"] = settings.azure_authority
        kwargs["disable_instance_discovery"] = True
    log.info("Azure credential: %s", credential_source())
    return DefaultAzureCredential(**kwargs)


def kubernetes_api(settings: AzureWorkerSettings) -> kube_client.ApiClient:
    """From a kubeconfig when one is set, otherwise the pod's service account."""
    if settings.kubeconfig:
        return cast(
            kube_client.ApiClient, kube_config.new_client_from_config(config_file=str(settings.kubeconfig))
        )
    configuration = kube_client.Configuration()
    kube_config.load_incluster_config(client_configuration=configuration)
    return kube_client.ApiClient(configuration)


ArmClient = TypeVar(
    "ArmClient",
    ContainerServiceClient,
    ManagedServiceIdentityClient,
    AuthorizationManagementClient,
    ComputeManagementClient,
)


def arm_client(
    kind: type[ArmClient], settings: AzureWorkerSettings, credential: DefaultAzureCredential
) -> ArmClient:
    """An async ARM management client of `kind`, bound to the settings' subscription and endpoint."""
    return kind(
        credential,
        settings.subscription_id,
        base_url=settings.arm_endpoint,
        credential_scopes=[settings.arm_scope],
        **azure_transport_kwargs(settings),
    )


@dataclass
class WorkerClients:
    """One worker process's Azure credential, ARM clients and Kubernetes client, closed together."""

    settings: AzureWorkerSettings
    credential: DefaultAzureCredential
    kube: kube_client.ApiClient
    _stack: AsyncExitStack

    def arm(self, kind: type[ArmClient]) -> ArmClient:
        """An ARM client of `kind` on the shared credential, closed with the others."""
        client = arm_client(kind, self.settings, self.credential)
        self._stack.push_async_callback(client.close)
        return client


@asynccontextmanager
async def worker_clients(settings: AzureWorkerSettings) -> AsyncIterator[WorkerClients]:
    """The clients a worker serves its activities with; all closed when the worker has stopped."""
    async with AsyncExitStack() as stack:
        credential = await stack.enter_async_context(azure_credential(settings))
        kube = stack.enter_context(kubernetes_api(settings))
        yield WorkerClients(settings, credential, kube, stack)
