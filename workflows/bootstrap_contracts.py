"""What the cluster-bootstrap workflow takes, returns and exchanges with its activities.

The bootstrap (see docs/architecture.md, "Cluster bootstrap") is one workflow per cluster, id
`bootstrap/<subscription>/<resource group>/<cluster>`, on the bootstrap task queue, served by a worker
that holds the operator's own Azure credential and an admin kubeconfig. Its Azure steps use the identity
activities' contracts (`workflows.identity_contracts`); its Kubernetes steps take a `ClusterSetup`.

`BootstrapRequest` is the workflow's input, so `temporal workflow start --input '{...}'` takes the same
JSON as `kaitoctl bootstrap`: only the three names are required. New fields get defaults so running
histories keep decoding.
"""

import re
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from workflows.identity_contracts import CONTRIBUTOR_ROLE_ID, TOKEN_EXCHANGE_AUDIENCE
from workflows.workspace_contracts import BOOTSTRAP_TASK_QUEUE

__all__ = ["BOOTSTRAP_TASK_QUEUE", "TOKEN_EXCHANGE_AUDIENCE"]

BOOTSTRAP_WORKFLOW = "BootstrapWorkflow"
PROGRESS_QUERY = "progress"

DEFAULT_NAMESPACE = "kaito-system"
WORKER_SERVICE_ACCOUNT = "kaito-worker"
CONTROLLER_SERVICE_ACCOUNT = "kaito-controller"
FEDERATED_CREDENTIAL_NAME = "kaito-worker"
# What the AKS workload-identity webhook reads (service account) and selects pods by (pod label).
WI_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
WI_TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
WI_USE_LABEL = "azure.workload.identity/use"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_IDENTITY_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$")


def bootstrap_workflow_id(subscription_id: str, resource_group: str, cluster_name: str) -> str:
    """The business key: one bootstrap per cluster (a re-run after completion is a new run of it)."""
    return f"bootstrap/{subscription_id}/{resource_group}/{cluster_name}"


class BootstrapActivity(StrEnum):
    """The bootstrap's own activities (the Azure identity ones are `IdentityActivity`)."""

    READ_ISSUER = "read_cluster_issuer"
    CHECK_KUBE_TARGET = "check_kube_target"
    INSTALL_CRD = "install_workspace_crd"
    APPLY_ACCESS = "apply_identity_and_rbac"
    APPLY_COMPONENTS = "apply_components"


class BootstrapRequest(BaseModel):
    """Bootstrap one AKS cluster for kaito-temporal. Only the three names are required."""

    subscription_id: str
    resource_group: str
    cluster_name: str
    location: str | None = Field(default=None, description="of the identity; None: the cluster's")
    identity_name: str | None = Field(default=None, description="None: kaito-worker-<cluster>")
    namespace: str = DEFAULT_NAMESPACE
    worker_service_account: str = WORKER_SERVICE_ACCOUNT
    controller_service_account: str = CONTROLLER_SERVICE_ACCOUNT
    federated_credential_name: str = Field(
        default=FEDERATED_CREDENTIAL_NAME, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$"
    )
    role_definition_id: str = Field(
        default=CONTRIBUTOR_ROLE_ID, description="granted to the identity on the cluster's resource id"
    )
    image: str | None = Field(default=None, description="worker/controller image; None: the setting")
    worker_replicas: int = Field(default=1, ge=0)
    controller_replicas: int = Field(default=1, ge=0, le=1)  # kopf runs standalone: one replica
    gateway_replicas: int = Field(default=2, ge=0, description="wake gateway pods (stateless)")
    workspace_namespaces: list[str] | None = Field(
        default=None,
        description="bind the worker's namespaced rights only in these namespaces; None: cluster-wide",
    )
    activity_timeout: timedelta = Field(
        default=timedelta(minutes=2), description="start-to-close of each short step"
    )
    heartbeat_timeout: timedelta = Field(
        default=timedelta(minutes=1), description="of the long-running cluster update (it beats every 10 s)"
    )

    @field_validator("namespace", "worker_service_account", "controller_service_account")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a DNS-1123 label (lower-case letters, digits, '-')")
        return value

    @field_validator("workspace_namespaces")
    @classmethod
    def _namespaces(cls, value: list[str] | None) -> list[str] | None:
        for namespace in value or []:
            cls._dns_label(namespace)
        return value

    @field_validator("identity_name")
    @classmethod
    def _identity(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTITY_NAME.match(value):
            raise ValueError(f"{value!r} is not a managed identity name (3-128 of letters, digits, '-', '_')")
        return value

    @property
    def workflow_id(self) -> str:
        return bootstrap_workflow_id(self.subscription_id, self.resource_group, self.cluster_name)

    @property
    def identity(self) -> str:
        return self.identity_name or f"kaito-worker-{self.cluster_name}"[:128]

    @property
    def subject(self) -> str:
        """The worker's service-account subject, as the kube-apiserver writes it into tokens."""
        return f"system:serviceaccount:{self.namespace}:{self.worker_service_account}"


class ClusterIssuer(BaseModel):
    """What `read_cluster_issuer` reads back from ARM once OIDC and workload identity are on."""

    cluster_id: str = Field(description="the cluster's ARM resource id, as ARM spells it")
    issuer_url: str = Field(description="oidcIssuerProfile.issuerURL, exactly")
    location: str


class ClusterSetup(BaseModel):
    """Everything the Kubernetes steps need: where the worker runs and which identity it is."""

    subscription_id: str
    resource_group: str
    cluster_name: str
    location: str
    namespace: str
    worker_service_account: str
    controller_service_account: str
    client_id: str = Field(description="the worker identity's clientId (service-account annotation)")
    tenant_id: str
    image: str | None = None
    worker_replicas: int = 1
    controller_replicas: int = 1
    gateway_replicas: int = 2
    workspace_namespaces: list[str] | None = None


class AppliedObjects(BaseModel):
    """Objects one apply step server-side applied, and which of them it created or changed."""

    applied: list[str] = Field(default_factory=list, description="kind/[namespace/]name, in order")
    created: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list, description="existed, and the apply changed them")


class BootstrapProgress(BaseModel):
    """The `progress` query: which step runs, which are done."""

    step: int
    steps: int
    current: str
    done: list[str] = Field(default_factory=list)


class BootstrapResult(BaseModel):
    client_id: str = Field(description="the worker identity's clientId (AZURE_CLIENT_ID)")
    principal_id: str = Field(description="its object id, the principal of the role assignment")
    tenant_id: str
    issuer_url: str
    cluster_id: str
    identity_id: str
    role_assignment_id: str
    federated_credential_id: str
    subject: str
    audience: str = TOKEN_EXCHANGE_AUDIENCE
    azure_changed: list[str] = Field(
        default_factory=list, description="what this run created or changed in Azure (empty: nothing)"
    )
    kube_created: list[str] = Field(default_factory=list)
    kube_changed: list[str] = Field(default_factory=list)
    kube_applied: list[str] = Field(default_factory=list)
