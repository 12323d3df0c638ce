"""The cluster bootstrap in the local cloud: who holds which credential, and running the workflow.

Two credential domains, as on AKS:
* the bootstrap worker (`python -m worker.bootstrap_worker`) gets the operator's client secret and the admin
  kubeconfig — what a person running `az` and `kubectl` has;
* the provisioning worker (`python -m worker`) gets only what the AKS workload-identity webhook injects
  (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST) plus endpoints;
  the token file is kept fresh by `localcloud.projected_token`, as the kubelet would;
* for Kubernetes, the worker and the controllers each get a kubeconfig of their own service account
  (`service_account_kubeconfig`: the apiserver's CA and a `tokenFile` that a TokenRequest keeps fresh),
  so the RBAC the bootstrap granted is what they run with, as a pod's in-cluster config would be.
Inherited AZURE_* variables are dropped from both, so nothing leaks from the caller's shell.
"""

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import yaml
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from localcloud.atomic_file import write_atomically
from localcloud.azure.config import EmulatorConfig
from localcloud.azure.launcher import AzureEmulatorProcess
from workflows.bootstrap_contracts import BOOTSTRAP_TASK_QUEUE, BootstrapRequest, BootstrapResult
from workflows.bootstrap_workflow import BootstrapWorkflow

TOKEN_FILE_NAME = "azure-identity-token"  # the webhook's file name under /var/run/secrets/azure/tokens
KUBE_TOKEN_FILE_NAME = "kube-token"  # what /var/run/secrets/kubernetes.io/serviceaccount/token holds
KUBECONFIG_FILE_NAME = "kubeconfig"


def service_account_kubeconfig(path: Path, server: str, ca_file: Path, token_file: Path, user: str) -> Path:
    """A kubeconfig that authenticates as a service account by its token file (re-read when renewed)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": user, "context": {"cluster": "local", "user": user}}],
        "current-context": user,
    }
    write_atomically(path, yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def clean_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any Azure credential variables."""
    source = os.environ if base is None else base
    return {k: v for k, v in source.items() if not k.startswith("AZURE_")}


def endpoints_env(azure: AzureEmulatorProcess, temporal_address: str, kubeconfig: Path) -> dict[str, str]:
    """Where ARM, Entra (the CA to trust), Temporal and the cluster are: no credentials."""
    config = azure.config
    cluster = config.clusters[0]
    return {
        "KAITO_TEMPORAL_ADDRESS": temporal_address,
        "KAITO_SUBSCRIPTION_ID": config.subscription_id,
        "KAITO_RESOURCE_GROUP": cluster.resource_group,
        "KAITO_CLUSTER_NAME": cluster.name,
        "KAITO_ARM_ENDPOINT": azure.base_url,
        "KAITO_AZURE_CA_BUNDLE": str(azure.ca_file),
        "KAITO_KUBECONFIG": str(kubeconfig),
        "PYTHONUNBUFFERED": "1",
    }


def operator_env(
    azure: AzureEmulatorProcess,
    temporal_address: str,
    kubeconfig: Path,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The bootstrap worker's: the operator's client secret (Owner of the subscription), admin kubeconfig."""
    config = azure.config
    return {
        **clean_env(base),
        **endpoints_env(azure, temporal_address, kubeconfig),
        "KAITO_AZURE_AUTHORITY": azure.base_url,
        "AZURE_TENANT_ID": config.tenant_id,
        "AZURE_CLIENT_ID": config.operator_client_id,
        "AZURE_CLIENT_SECRET": config.operator_client_secret,
        # Were the in-cluster components running, they would reach this same Temporal.
        "KAITO_COMPONENT_TEMPORAL_ADDRESS": temporal_address,
        "KAITO_GRACEFUL_SHUTDOWN": "PT5S",
    }


def workload_identity_env(
    azure: AzureEmulatorProcess,
    temporal_address: str,
    kubeconfig: Path,
    result: BootstrapResult,
    token_file: Path,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The provisioning worker's: exactly the webhook's four variables, and endpoints."""
    return {
        **clean_env(base),
        **endpoints_env(azure, temporal_address, kubeconfig),
        "AZURE_CLIENT_ID": result.client_id,
        "AZURE_TENANT_ID": result.tenant_id,
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "AZURE_AUTHORITY_HOST": azure.base_url,
        "KAITO_GRACEFUL_SHUTDOWN": "PT5S",
    }


def local_request(config: EmulatorConfig, **overrides: object) -> BootstrapRequest:
    """The local cloud's bootstrap: its one cluster; no Deployment replicas, because the local cloud runs
    the same worker and controllers as host processes (with the same service-account identity)."""
    cluster = config.clusters[0]
    fields: dict[str, object] = {
        "subscription_id": config.subscription_id,
        "resource_group": cluster.resource_group,
        "cluster_name": cluster.name,
        "worker_replicas": 0,
        "controller_replicas": 0,
        "gateway_replicas": 1,  # a pod for its address; the process behind it is localcloud.wake_gateway's
    }
    fields.update(overrides)
    return BootstrapRequest.model_validate(fields)


async def run_bootstrap(
    client: Client,
    request: BootstrapRequest,
    *,
    timeout: timedelta = timedelta(minutes=10),
    conflict: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.USE_EXISTING,
) -> BootstrapResult:
    """Start (or join) the cluster's bootstrap workflow and return its result (pydantic converter)."""
    handle = await client.start_workflow(
        BootstrapWorkflow.run,
        request,
        id=request.workflow_id,
        task_queue=BOOTSTRAP_TASK_QUEUE,
        id_conflict_policy=conflict,
        execution_timeout=timeout,
        static_summary=f"Bootstrap cluster {request.cluster_name} for kaito-temporal",
    )
    return await handle.result()
