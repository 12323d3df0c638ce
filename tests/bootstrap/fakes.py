"""Fakes of the bootstrap's activities, under the real names, recording every call and attempt."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows import identity_contracts as contracts
from workflows.bootstrap_contracts import AppliedObjects, BootstrapActivity, ClusterIssuer, ClusterSetup

ISSUER = "https://eastus.oic.prod-aks.azure.com/tenant/cluster-uid/"
CLIENT_ID = "11111111-1111-1111-1111-111111111111"
PRINCIPAL_ID = "33333333-3333-3333-3333-333333333333"
TENANT_ID = "22222222-2222-2222-2222-222222222222"


@dataclass
class FakeBootstrapCloud:
    principal_not_found: int = 0  # the role assignment answers PrincipalNotFound this many times first
    final_failure_at: str | None = None  # this activity fails with a non-retryable AuthorizationFailed
    always_failing: str | None = None  # this activity fails retryably, every time
    already_done: bool = False  # a second bootstrap of the same cluster: every step finds it in place
    calls: list[tuple[str, Any]] = field(default_factory=list)
    attempts: dict[str, list[datetime]] = field(default_factory=dict)

    def _enter(self, name: str, arg: Any) -> None:
        info = activity.info()
        self.attempts.setdefault(name, []).append(info.started_time)
        self.calls.append((name, arg))
        if name == self.final_failure_at:
            raise ApplicationError(
                f"{name}: AuthorizationFailed: the client does not have authorization",
                type="AuthorizationFailed",
                non_retryable=True,
            )
        if name == self.always_failing:
            raise ApplicationError(f"{name}: ServiceUnavailable", type="ServiceUnavailable")

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def arg(self, name: str) -> Any:
        return next(arg for called, arg in self.calls if called == name)

    @activity.defn(name=contracts.IdentityActivity.ENABLE_WORKLOAD_IDENTITY)
    async def enable(self, ref: contracts.ClusterRef) -> contracts.IssuerInfo:
        self._enter(contracts.IdentityActivity.ENABLE_WORKLOAD_IDENTITY, ref)
        return contracts.IssuerInfo(
            cluster_id=ref.resource_id, issuer_url=ISSUER, changed=not self.already_done
        )

    @activity.defn(name=BootstrapActivity.READ_ISSUER)
    async def read_issuer(self, ref: contracts.ClusterRef) -> ClusterIssuer:
        self._enter(BootstrapActivity.READ_ISSUER, ref)
        return ClusterIssuer(cluster_id=ref.resource_id, issuer_url=ISSUER, location="westus3")

    @activity.defn(name=contracts.IdentityActivity.ENSURE_IDENTITY)
    async def identity(self, ref: contracts.IdentityRef) -> contracts.IdentityInfo:
        self._enter(contracts.IdentityActivity.ENSURE_IDENTITY, ref)
        return contracts.IdentityInfo(
            resource_id=ref.resource_id,
            name=ref.name,
            client_id=CLIENT_ID,
            principal_id=PRINCIPAL_ID,
            tenant_id=TENANT_ID,
            created=not self.already_done,
        )

    @activity.defn(name=contracts.IdentityActivity.ENSURE_ROLE_ASSIGNMENT)
    async def role(self, req: contracts.RoleAssignmentRequest) -> contracts.RoleAssignmentInfo:
        self._enter(contracts.IdentityActivity.ENSURE_ROLE_ASSIGNMENT, req)
        if len(self.attempts[contracts.IdentityActivity.ENSURE_ROLE_ASSIGNMENT]) <= self.principal_not_found:
            raise ApplicationError(
                f"assign role: PrincipalNotFound: Principal {req.principal_id} is not in the directory",
                type="PrincipalNotFound",
            )
        name = req.assignment_name
        return contracts.RoleAssignmentInfo(
            **req.model_dump(include={"scope", "principal_id"}),
            id=f"{req.scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
            name=name,
            role_definition_id=req.full_role_definition_id,
            created=not self.already_done,
        )

    @activity.defn(name=contracts.IdentityActivity.ENSURE_FEDERATED_CREDENTIAL)
    async def federate(self, req: contracts.FederatedCredentialRequest) -> contracts.FederatedCredentialInfo:
        self._enter(contracts.IdentityActivity.ENSURE_FEDERATED_CREDENTIAL, req)
        return contracts.FederatedCredentialInfo(
            **req.model_dump(include={"name", "issuer", "audiences"}),
            id=f"{req.identity.resource_id}/federatedIdentityCredentials/{req.name}",
            subject=req.subject,
            changed=not self.already_done,
        )

    @activity.defn(name=BootstrapActivity.CHECK_KUBE_TARGET)
    async def check(self, issuer: ClusterIssuer) -> str:
        self._enter(BootstrapActivity.CHECK_KUBE_TARGET, issuer)
        return issuer.issuer_url

    def _applying(self, name: str, objects: Callable[[ClusterSetup], list[str]]) -> Any:
        """A fake of one of the bootstrap's apply steps: it reports `objects(setup)` created."""

        @activity.defn(name=name)
        async def apply(setup: ClusterSetup) -> AppliedObjects:
            self._enter(name, setup)
            made = objects(setup)
            return AppliedObjects(applied=made, created=[] if self.already_done else made)

        return apply

    def activities(self) -> list[Any]:
        return [
            self.enable,
            self.read_issuer,
            self.identity,
            self.role,
            self.federate,
            self.check,
            self._applying(
                BootstrapActivity.INSTALL_CRD, lambda _: ["CustomResourceDefinition/workspaces.kaito.sh"]
            ),
            self._applying(
                BootstrapActivity.APPLY_ACCESS,
                lambda setup: [f"ServiceAccount/{setup.namespace}/kaito-worker"],
            ),
            self._applying(
                BootstrapActivity.APPLY_COMPONENTS,
                lambda setup: [f"Deployment/{setup.namespace}/kaito-worker"],
            ),
        ]
