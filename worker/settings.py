"""Worker settings from the environment (`KAITO_*`), so one image runs locally, on AKS and on Cloud.

Only endpoints and credentials change between the local cloud and Azure; no setting selects a mode.
"""

from datetime import timedelta
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.workspace_contracts import BOOTSTRAP_TASK_QUEUE, TASK_QUEUE


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAITO_", extra="ignore")

    task_queue: str = TASK_QUEUE
    # The AKS cluster whose agent pools the provisioning worker manages.
    subscription_id: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "kaito-rg"
    cluster_name: str = "kaito-aks"
    location: str = "eastus"
    # ARM endpoint and the CA bundle to trust for it (the local cloud's emulator uses its own CA).
    arm_endpoint: str = "https://management.azure.com"
    arm_scope: str = "https://management.azure.com/.default"
    azure_authority: str | None = None
    azure_ca_bundle: Path | None = None
    # Kubernetes: a kubeconfig path, or in-cluster config when unset.
    kubeconfig: Path | None = None
    node_ready_timeout: timedelta = timedelta(minutes=30)
    inference_ready_timeout: timedelta | None = None
    graceful_shutdown: timedelta = timedelta(seconds=60)
    max_concurrent_activities: int = 50


class BootstrapSettings(WorkerSettings):
    """The bootstrap worker (`python -m worker.bootstrap_worker`): the operator's Azure credential (from the
    usual AZURE_* variables or the Azure CLI) and an admin kubeconfig (KAITO_KUBECONFIG) for the cluster it
    sets up, on its own task queue. `KAITO_COMPONENT_*` describe what it installs in the cluster."""

    task_queue: str = BOOTSTRAP_TASK_QUEUE
    component_image: str = "kaito-temporal:0.1.0"
    # How the in-cluster worker and controllers reach Temporal (not how this worker does).
    component_temporal_address: str = "temporal-frontend.temporal.svc.cluster.local:7233"
    component_temporal_namespace: str = "default"
