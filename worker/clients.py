"""Azure and Kubernetes clients from settings: the only place that knows endpoints and credentials."""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from temporalio import activity

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


def _token_file(kubeconfig: Path) -> Path | None:
    """The `tokenFile` of the kubeconfig's current user, if it authenticates with one."""
    loaded = yaml.safe_load(kubeconfig.read_text()) or {}
    context: dict[str, Any] = next(
        (c["context"] for c in loaded.get("contexts") or [] if c["name"] == loaded.get("current-context")),
        {},
    )
    user: dict[str, Any] = next(
        (u["user"] for u in loaded.get("users") or [] if u["name"] == context.get("user")), {}
    )
    token_file = user.get("tokenFile")
    return (kubeconfig.parent / token_file) if token_file else None


def _reread_token_file(configuration: kube_client.Configuration, token_file: Path) -> None:
    """Before each request, take the token file's content when it has changed (a renewed service-account
    token), as client-go re-reads a kubeconfig's tokenFile; the `kubernetes` client reads it once."""
    seen = {"mtime": token_file.stat().st_mtime_ns}

    def refresh(config: kube_client.Configuration) -> None:
        mtime = token_file.stat().st_mtime_ns
        if mtime != seen["mtime"]:
            seen["mtime"] = mtime
            config.api_key["BearerToken"] = f"Bearer {token_file.read_text().strip()}"

    setattr(configuration, "refresh_api_key_hook", refresh)  # noqa: B010 (typed None in the client)


def kubernetes_api(settings: AzureWorkerSettings) -> kube_client.ApiClient:
    """From a kubeconfig when one is set, otherwise the pod's service account; one pooled connection per
    thread that may call it (`kube_threads`), so no call waits for another's connection."""
    configuration = kube_client.Configuration()
    if settings.kubeconfig:
        kube_config.load_kube_config(config_file=str(settings.kubeconfig), client_configuration=configuration)
        token_file = _token_file(settings.kubeconfig)
        if token_file is not None:
            _reread_token_file(configuration, token_file)
    else:
        kube_config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = settings.kube_threads
    return kube_client.ApiClient(configuration)


class HeartbeatPerTry(SansIOHTTPPolicy[Any, Any]):
    """Heartbeats the activity on each HTTP try of an ARM call (the PUT, its SDK retries, every LRO poll).

    So an activity blocked in the SDK — a PUT slowed by throttling and retried after Retry-After, say —
    still tells Temporal its worker lives, and a dead worker is noticed within the heartbeat timeout.
    Outside an activity (scripts, the CLI) it does nothing.
    """

    def on_request(self, request: PipelineRequest[Any]) -> None:
        if activity.in_activity():
            activity.heartbeat(f"{request.http_request.method} {request.http_request.url.split('?')[0]}")


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
        per_retry_policies=[HeartbeatPerTry()],
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
