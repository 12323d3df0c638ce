"""Emulator configuration: ids, credentials, timings and limits, all with local-cloud defaults.

One object configures both the in-process `AzureEmulator` and the `python -m localcloud.azure` entry,
so a test, a benchmark and `kaitoctl dev up` describe the same cloud the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from localcloud.azure.faults import FaultPlan
from localcloud.azure.vmsizes import DEFAULT_FAMILY_QUOTAS

DEFAULT_TENANT_ID = "7c3f1e2a-5b4d-4c8e-9f10-2a3b4c5d6e7f"
DEFAULT_SUBSCRIPTION_ID = "3f2c9a1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c"
DEFAULT_OPERATOR_CLIENT_ID = "0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b"
DEFAULT_OPERATOR_PRINCIPAL_ID = "5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170"
DEFAULT_OPERATOR_SECRET = "local-operator-secret"
DEFAULT_LOCATION = "eastus"
DEFAULT_RESOURCE_GROUP = "kaito-rg"
DEFAULT_CLUSTER = "kaito-aks"


class _Settings(BaseModel):
    """Unknown keys are refused: a misspelt setting must not silently keep its default."""

    model_config = ConfigDict(extra="forbid")


class OperationDurations(_Settings):
    """Seconds each long-running operation stays InProgress (tests: fractions; realistic: minutes)."""

    pool_create: float = 0.3
    pool_scale: float = 0.3
    pool_update: float = 0.3
    pool_delete: float = 0.3
    cluster_update: float = 0.3

    @classmethod
    def uniform(cls, seconds: float) -> OperationDurations:
        return cls.model_validate(dict.fromkeys(cls.model_fields, seconds))

    @classmethod
    def realistic(cls) -> OperationDurations:
        """Roughly what AKS takes for a GPU pool (create/scale up minutes, scale to zero about a minute)."""
        return cls(
            pool_create=240.0, pool_scale=180.0, pool_update=90.0, pool_delete=150.0, cluster_update=180.0
        )


class ClusterSeed(_Settings):
    """A managed cluster that exists before anyone calls ARM (the local cloud has exactly one)."""

    resource_group: str = DEFAULT_RESOURCE_GROUP
    name: str = DEFAULT_CLUSTER
    kubernetes_version: str = "1.33.2"
    system_pool_name: str = "nodepool1"
    system_pool_vm_size: str = "Standard_D4s_v5"
    system_pool_count: int = 1
    issuer_url: str | None = None  # None: use EmulatorConfig.oidc_issuer_url


class EmulatorConfig(_Settings):
    """Everything the emulator needs; defaults give a working single-cluster local cloud.

    The launcher hands it to the child process as JSON (`model_dump_json`, `model_validate_json`).
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port; `AzureEmulator.base_url` tells which
    state_file: Path | None = None  # None: state lives in memory only
    cert_dir: Path | None = None  # None: next to the state file, else a temporary directory
    extra_hostnames: list[str] = []  # extra SANs for the server certificate

    tenant_id: str = DEFAULT_TENANT_ID
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    location: str = DEFAULT_LOCATION
    resource_groups: list[str] = [DEFAULT_RESOURCE_GROUP]
    clusters: list[ClusterSeed] = Field(default_factory=lambda: [ClusterSeed()])

    # The cluster's OIDC issuer (what managedClusters reports as issuerURL once OIDC is enabled) and the CA
    # bundle(s) used to fetch any issuer's discovery document and JWKS over HTTPS.
    oidc_issuer_url: str | None = None
    issuer_ca_files: list[Path] = []

    # The operator's own credential (bootstrap side): a client secret, Owner on the subscription.
    operator_client_id: str = DEFAULT_OPERATOR_CLIENT_ID
    operator_principal_id: str = DEFAULT_OPERATOR_PRINCIPAL_ID
    operator_client_secret: str = DEFAULT_OPERATOR_SECRET

    durations: OperationDurations = Field(default_factory=OperationDurations)
    retry_after_max: int = 30  # LRO Retry-After = clamp(ceil(time left), 1, this)
    send_retry_after: bool = True  # False: like real AKS, the client's polling_interval governs
    # Send `retry-after-ms` on running LROs (real ARM does not). azure-core reads Retry-After first, so this
    # speeds polling only with send_retry_after=False: second-scale tests without 1 s poll steps.
    poll_hint_ms: int | None = None

    principal_replication_seconds: float = 0.0  # a new identity is "not found" by RBAC this long
    token_lifetime_seconds: int = 3599
    family_quotas: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_FAMILY_QUOTAS))
    default_family_quota: int = 0  # cores for families not in family_quotas
    allowed_vm_sizes: list[str] | None = None  # None: the whole built-in catalog
    enforce_rate_limits: bool = False  # ARM's token buckets always report; they only refuse when True

    faults: FaultPlan | None = None  # the initial fault plan
    seed: int = 0

    @classmethod
    def realistic(cls, **overrides: Any) -> EmulatorConfig:
        """AKS-like timings: minutes-long operations, 30 s replication, 15 s polling hints."""
        base: dict[str, Any] = {
            "durations": OperationDurations.realistic(),
            "principal_replication_seconds": 30.0,
            "retry_after_max": 15,
            "enforce_rate_limits": True,
        }
        base.update(overrides)
        return cls.model_validate(base)

    def issuer_for(self, cluster: ClusterSeed) -> str:
        """The issuer URL a cluster reports; a non-resolving AKS-shaped URL when none is configured."""
        if cluster.issuer_url:
            return cluster.issuer_url
        if self.oidc_issuer_url:
            return self.oidc_issuer_url
        return f"https://{self.location}.oic.prod-aks.azure.com/{self.tenant_id}/{cluster.name}/"
