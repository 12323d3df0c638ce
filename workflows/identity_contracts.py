"""What the cluster-bootstrap workflow exchanges with its Azure identity activities.

The bootstrap enables the OIDC issuer and workload identity on the cluster,
creates the worker's user-assigned identity, gives it Contributor on the cluster, and federates it with
the worker's Kubernetes service account. Each step is one idempotent activity, called by these names with
these pydantic models (carried by the pydantic data converter; new fields get defaults).
"""

import uuid
from enum import StrEnum

from pydantic import BaseModel, Field

CONTRIBUTOR_ROLE_ID = "b24988ac-6180-42a0-ab88-20f7382dd24c"  # built-in, the same GUID in every tenant
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("1f0b4c9e-7d3a-5e2b-9c84-6a1d2e3f4b5c")  # ours: uuid5 of the triple


class IdentityActivity(StrEnum):
    ENABLE_WORKLOAD_IDENTITY = "enable_cluster_workload_identity"
    ENSURE_IDENTITY = "ensure_user_assigned_identity"
    ENSURE_ROLE_ASSIGNMENT = "ensure_role_assignment"
    ENSURE_FEDERATED_CREDENTIAL = "ensure_federated_credential"


class ClusterRef(BaseModel):
    """An AKS managed cluster."""

    subscription_id: str
    resource_group: str
    cluster_name: str

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{self.cluster_name}"
        )


class IssuerInfo(BaseModel):
    """The cluster once its OIDC issuer and workload identity are on."""

    cluster_id: str = Field(description="the cluster's ARM resource id, as ARM spells it")
    issuer_url: str = Field(description="oidcIssuerProfile.issuerURL, trailing slash included")
    changed: bool = Field(description="False when both features were already on and no PUT was sent")


class IdentityRef(BaseModel):
    """A user-assigned managed identity (the worker's identity in the cluster)."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{self.name}"
        )


class IdentityInfo(BaseModel):
    """What the later steps need: principalId for the role, clientId for the service-account annotation."""

    resource_id: str
    name: str
    client_id: str
    principal_id: str
    tenant_id: str
    created: bool = Field(description="True when this call created it")


class RoleAssignmentRequest(BaseModel):
    """Give `principal_id` (a service principal, e.g. a managed identity) a role at `scope`."""

    scope: str = Field(description="an ARM resource id, e.g. the cluster's (IssuerInfo.cluster_id)")
    principal_id: str
    role_definition_id: str = Field(
        default=CONTRIBUTOR_ROLE_ID, description="the role's GUID, or its full roleDefinitions id"
    )
    principal_type: str = "ServicePrincipal"
    description: str | None = None

    @property
    def role_guid(self) -> str:
        return self.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()

    @property
    def subscription_id(self) -> str:
        parts = self.scope.strip("/").split("/")
        if len(parts) < 2 or parts[0].lower() != "subscriptions":
            raise ValueError(f"scope {self.scope!r} is not under a subscription")
        return parts[1]

    @property
    def full_role_definition_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/providers/Microsoft.Authorization"
            f"/roleDefinitions/{self.role_guid}"
        )

    @property
    def assignment_name(self) -> str:
        """Deterministic, so a retried create names the same assignment: uuid5(scope|role|principal)."""
        key = f"{self.scope.rstrip('/').lower()}|{self.role_guid}|{self.principal_id.lower()}"
        return str(uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, key))


class RoleAssignmentInfo(BaseModel):
    id: str
    name: str
    scope: str
    role_definition_id: str
    principal_id: str
    created: bool = Field(description="True when this call created it")


class FederatedCredentialRequest(BaseModel):
    """Trust tokens of one Kubernetes service account, signed by the cluster's issuer, for an identity."""

    identity: IdentityRef
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$")
    issuer: str = Field(description="IssuerInfo.issuer_url, exactly (Entra compares it as a string)")
    namespace: str
    service_account: str
    audiences: list[str] = Field(default_factory=lambda: [TOKEN_EXCHANGE_AUDIENCE])

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


class FederatedCredentialInfo(BaseModel):
    id: str
    name: str
    issuer: str
    subject: str
    audiences: list[str]
    changed: bool = Field(description="False when an equal credential existed and no PUT was sent")
