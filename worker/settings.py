"""Worker settings from the environment (`KAITO_*`), so one image runs locally, on AKS and on Cloud.

Only endpoints and credentials change between the local cloud and Azure; no setting selects a mode.
What has no safe default (which subscription and cluster) must be set: a forgotten variable stops the
worker at start (`from_environment`) instead of provisioning against a made-up cluster.
"""

import sys
from datetime import timedelta
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.workspace_contracts import BOOTSTRAP_TASK_QUEUE, TASK_QUEUE

S = TypeVar("S", bound=BaseSettings)
USAGE_ERROR = 2  # the exit code of a process started with missing or malformed settings


class AzureWorkerSettings(BaseSettings):
    """What both workers need: where ARM and Entra are, the subscription, the kubeconfig, the shutdown."""

    model_config = SettingsConfigDict(env_prefix="KAITO_", extra="ignore")

    task_queue: str
    subscription_id: str = Field(description="the subscription the worker's Azure clients act in")
    # ARM endpoint and the CA bundle to trust for it (the local cloud's emulator uses its own CA).
    arm_endpoint: str = "https://management.azure.com"
    arm_scope: str = "https://management.azure.com/.default"
    azure_authority: str | None = None
    azure_ca_bundle: Path | None = None
    # Kubernetes: a kubeconfig path, or in-cluster config when unset.
    kubeconfig: Path | None = None
    # The Kubernetes client is synchronous: each call holds a thread (and a pooled connection) for its
    # round trip. Python's default of cores + 4 threads queued a fleet's status writes and applies behind
    # each other (bench/fleet.py); this many run at once, every activity slot's call with room to spare.
    kube_threads: int = Field(default=64, ge=1)
    graceful_shutdown: timedelta = timedelta(seconds=60)
    # Observability: Prometheus on host:port (SDK and our metrics, path /metrics; unset: none served),
    # how often the fleet gauges are sampled, OTLP/HTTP traces (unset: no tracing), the log format.
    metrics_address: str | None = None
    metrics_sample_interval: timedelta = timedelta(seconds=30)
    tracing_otlp_endpoint: str | None = None
    log_format: Literal["json", "text"] = "json"


class WorkerSettings(AzureWorkerSettings):
    """The provisioning worker (`python -m worker`): the AKS cluster whose GPU pools it manages.

    Agent pools take the cluster's location, so the worker needs none (`KAITO_LOCATION` is ignored).
    """

    task_queue: str = TASK_QUEUE
    subscription_id: str = Field(
        description="the subscription of the AKS cluster whose GPU pools this worker manages"
    )
    resource_group: str = Field(
        description="the resource group of the AKS cluster whose GPU pools this worker manages"
    )
    cluster_name: str = Field(description="the AKS cluster whose GPU pools this worker manages")
    node_ready_timeout: timedelta = timedelta(minutes=30)
    inference_ready_timeout: timedelta | None = None
    max_concurrent_activities: int = 50


class BootstrapSettings(AzureWorkerSettings):
    """The bootstrap worker (`python -m worker.bootstrap_worker`): the operator's Azure credential (from the
    usual AZURE_* variables or the Azure CLI) and an admin kubeconfig (KAITO_KUBECONFIG) for the cluster it
    sets up, on its own task queue. Each bootstrap request names its cluster; `KAITO_COMPONENT_*` describe
    what it installs there."""

    task_queue: str = BOOTSTRAP_TASK_QUEUE
    subscription_id: str = Field(
        description="the subscription of the AKS clusters this worker bootstraps (it refuses others)"
    )
    component_image: str = "kaito-temporal:0.1.0"
    # How the in-cluster worker and controllers reach Temporal (not how this worker does).
    component_temporal_address: str = "temporal-frontend.temporal.svc.cluster.local:7233"
    component_temporal_namespace: str = "default"
    # Its own variable: both workers may share one environment (the local cloud's), not one port.
    metrics_address: str | None = Field(default=None, validation_alias="KAITO_BOOTSTRAP_METRICS_ADDRESS")


def problems(cls: type[BaseSettings], error: ValidationError) -> list[str]:
    """One line per variable: which is not set (and what it is for), or which value is malformed."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    lines = []
    for item in error.errors():
        if not item["loc"]:  # a rule across fields (a half-set mode, say): its message names them
            lines.append(str(item["msg"]).removeprefix("Value error, "))
            continue
        field = str(item["loc"][0])
        variable = f"{prefix}{field}".upper()
        if item["type"] == "missing":
            info = cls.model_fields.get(field)
            purpose = info.description if info is not None and info.description else field
            lines.append(f"{variable} is not set: {purpose}")
        else:
            lines.append(f"{variable}={item['input']!r} is invalid: {item['msg']}")
    return lines


def from_environment(cls: type[S]) -> S:
    """The settings from the environment; else each problem on one line of stderr, and exit code 2."""
    try:
        return cls()
    except ValidationError as error:
        for line in problems(cls, error):
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR) from None
