"""Cluster-bootstrap activities on the Azure side: workload identity for the in-cluster worker.

Run on the bootstrap task queue (`python -m worker.bootstrap_worker`) with the operator's own credential,
which may change the cluster, create identities and assign roles; the provisioning worker never holds it:

1. `enable_cluster_workload_identity` — GET the managed cluster, switch on `oidcIssuerProfile` and
   `securityProfile.workloadIdentity`, PUT it back (long-running), return the issuer URL. No PUT when both
   are already on. A cluster busy with another operation (a provisioningState such as Updating, or a 409
   to our PUT) is retried by Temporal after `Waits.busy_retry`, the next attempt reading it again.
   `read_cluster_issuer` — read it back (with the cluster's resource id and location) for the later steps.
2. `ensure_user_assigned_identity` — the worker's identity; its clientId/principalId/tenantId.
3. `ensure_role_assignment` — Contributor for that principal on the cluster's resource id, under a
   deterministic assignment name; `RoleAssignmentExists` means done; `PrincipalNotFound` (AAD has not
   replicated the brand-new identity yet) is retried.
4. `ensure_federated_credential` — trust the worker's service-account tokens from the cluster's issuer.
   No PUT when an equal credential exists.

Each reads before it writes and writes only the difference, so a retried or re-run bootstrap converges.
"""

from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignment, RoleAssignmentCreateParameters
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.containerservice.models import (
    ManagedCluster,
    ManagedClusterOIDCIssuerProfile,
    ManagedClusterSecurityProfile,
    ManagedClusterSecurityProfileWorkloadIdentity,
)
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from azure.mgmt.msi.models import FederatedIdentityCredential, Identity
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.azure_errors import AZURE_FAILURES, arm_code, busy, classify
from activities.azure_waits import Waits, await_operation
from workflows import identity_contracts as contracts
from workflows.bootstrap_contracts import BootstrapActivity, ClusterIssuer

CLUSTER_BUSY_STATES = frozenset(
    {"Creating", "Updating", "Upgrading", "Scaling", "Starting", "Stopping", "Deleting"}
)


def _subscription_of(client: Any) -> str | None:
    config = getattr(client, "_config", None)
    sub = getattr(config, "subscription_id", None)
    return str(sub) if sub else None


def _check_subscription(client: Any, wanted: str, what: str) -> None:
    """A request names its subscription; the client is bound to one. Never act on the wrong one."""
    bound = _subscription_of(client)
    if bound is not None and bound.lower() != wanted.lower():
        raise ApplicationError(
            f"{what}: the request is for subscription {wanted} but the client is bound to {bound}",
            type="SubscriptionMismatch",
            non_retryable=True,
        )


def _props(resource: Any) -> Any:
    return resource.properties


def _oidc_enabled(cluster: ManagedCluster) -> bool:
    oidc = _props(cluster).oidc_issuer_profile
    return bool(oidc is not None and oidc.enabled)


def _workload_identity_enabled(cluster: ManagedCluster) -> bool:
    security = _props(cluster).security_profile
    workload = security.workload_identity if security is not None else None
    return bool(workload is not None and workload.enabled)


def _issuer_url(cluster: ManagedCluster) -> str | None:
    oidc = _props(cluster).oidc_issuer_profile
    return str(oidc.issuer_url) if oidc is not None and oidc.issuer_url else None


class IdentityActivities:
    """The bootstrap's Azure activities, bound to async SDK clients built with the operator's credential."""

    def __init__(
        self,
        aks: ContainerServiceClient,
        msi: ManagedServiceIdentityClient,
        authorization: AuthorizationManagementClient,
        *,
        waits: Waits | None = None,
    ) -> None:
        self._aks = aks
        self._msi = msi
        self._authz = authorization
        self._waits = waits or Waits()

    # ---- 1. OIDC issuer + workload identity on the cluster ----------------------------------------

    async def _get_cluster(self, ref: contracts.ClusterRef) -> ManagedCluster:
        try:
            return await self._aks.managed_clusters.get(ref.resource_group, ref.cluster_name)
        except AZURE_FAILURES as err:
            raise classify(err, f"read managed cluster {ref.cluster_name}") from None

    async def _settled_cluster(self, ref: contracts.ClusterRef, doing: str) -> ManagedCluster:
        """The cluster when no operation runs on it; else a busy retry."""
        cluster = await self._get_cluster(ref)
        state = str(_props(cluster).provisioning_state)
        if state in CLUSTER_BUSY_STATES:
            raise busy(doing, f"managed cluster {ref.cluster_name} is {state}", self._waits.busy_retry)
        return cluster

    @activity.defn(name=contracts.IdentityActivity.ENABLE_WORKLOAD_IDENTITY)
    async def enable_cluster_workload_identity(self, ref: contracts.ClusterRef) -> contracts.IssuerInfo:
        """Switch on the OIDC issuer and workload identity (GET, modify, long-running PUT); the issuer URL.

        `changed` says whether this attempt sent the PUT (an earlier attempt's PUT whose answer was lost
        reads as already on).
        """
        doing = f"enable OIDC issuer and workload identity on {ref.cluster_name}"
        _check_subscription(self._aks, ref.subscription_id, doing)
        cluster = await self._settled_cluster(ref, doing)
        issuer = _issuer_url(cluster)
        settled_ok = _props(cluster).provisioning_state == "Succeeded"
        if _oidc_enabled(cluster) and _workload_identity_enabled(cluster) and issuer and settled_ok:
            return contracts.IssuerInfo(cluster_id=str(cluster.id), issuer_url=issuer, changed=False)
        props = _props(cluster)
        props.oidc_issuer_profile = ManagedClusterOIDCIssuerProfile(enabled=True)
        if props.security_profile is None:
            props.security_profile = ManagedClusterSecurityProfile()
        props.security_profile.workload_identity = ManagedClusterSecurityProfileWorkloadIdentity(enabled=True)
        try:
            poller = await self._aks.managed_clusters.begin_create_or_update(
                ref.resource_group, ref.cluster_name, cluster
            )
            updated = await await_operation(poller, doing, self._waits)
        except AZURE_FAILURES as err:
            raise classify(err, doing, busy_retry=self._waits.busy_retry) from None
        if not (_oidc_enabled(updated) and _workload_identity_enabled(updated)):
            raise busy(
                doing,
                f"another update of {ref.cluster_name} overtook ours before it was read back",
                self._waits.busy_retry,
            )
        issuer = _issuer_url(updated)
        if not issuer:
            # Never re-PUT for a missing URL: the next attempt reads it again.
            raise ApplicationError(
                f"{doing}: the update succeeded but no issuer URL yet", type="IssuerNotReady"
            )
        return contracts.IssuerInfo(cluster_id=str(updated.id), issuer_url=issuer, changed=True)

    @activity.defn(name=BootstrapActivity.READ_ISSUER)
    async def read_cluster_issuer(self, ref: contracts.ClusterRef) -> ClusterIssuer:
        """The issuer URL the cluster publishes (with its resource id and location), once both are on."""
        doing = f"read the OIDC issuer URL of {ref.cluster_name}"
        _check_subscription(self._aks, ref.subscription_id, doing)
        cluster = await self._get_cluster(ref)
        issuer = _issuer_url(cluster)
        if not (_oidc_enabled(cluster) and _workload_identity_enabled(cluster) and issuer):
            # Enabled a moment ago by the previous step: another update may be running; read again.
            raise ApplicationError(
                f"{doing}: OIDC issuer or workload identity is not on yet "
                f"(provisioningState {_props(cluster).provisioning_state})",
                type="IssuerNotReady",
            )
        return ClusterIssuer(cluster_id=str(cluster.id), issuer_url=issuer, location=str(cluster.location))

    # ---- 2. the user-assigned identity ------------------------------------------------------------

    @activity.defn(name=contracts.IdentityActivity.ENSURE_IDENTITY)
    async def ensure_user_assigned_identity(self, ref: contracts.IdentityRef) -> contracts.IdentityInfo:
        """Create the identity (or find it); its ids never change across re-PUTs, so retries are safe."""
        doing = f"ensure managed identity {ref.name}"
        _check_subscription(self._msi, ref.subscription_id, doing)
        try:
            existing: Identity | None = await self._msi.user_assigned_identities.get(
                ref.resource_group, ref.name
            )
        except ResourceNotFoundError:
            existing = None
        except AZURE_FAILURES as err:
            raise classify(err, doing) from None
        if existing is not None and self._identity_as_desired(existing, ref):
            return self._identity_info(existing, created=False)
        tags = {**((existing.tags or {}) if existing is not None else {}), **ref.tags}
        try:
            made = await self._msi.user_assigned_identities.create_or_update(
                ref.resource_group, ref.name, Identity(location=ref.location, tags=tags)
            )
        except AZURE_FAILURES as err:
            raise classify(err, doing) from None
        return self._identity_info(made, created=existing is None)

    @staticmethod
    def _identity_as_desired(identity: Identity, ref: contracts.IdentityRef) -> bool:
        have = identity.tags or {}
        same_place = (
            str(identity.location or "").replace(" ", "").lower() == ref.location.replace(" ", "").lower()
        )
        return same_place and all(have.get(k) == v for k, v in ref.tags.items())

    @staticmethod
    def _identity_info(identity: Identity, *, created: bool) -> contracts.IdentityInfo:
        if not (identity.client_id and identity.principal_id and identity.tenant_id):
            raise ApplicationError(
                f"managed identity {identity.name} has no clientId/principalId/tenantId yet",
                type="IdentityIncomplete",
            )
        return contracts.IdentityInfo(
            resource_id=str(identity.id),
            name=str(identity.name),
            client_id=str(identity.client_id),
            principal_id=str(identity.principal_id),
            tenant_id=str(identity.tenant_id),
            created=created,
        )

    # ---- 3. the role assignment -------------------------------------------------------------------

    @activity.defn(name=contracts.IdentityActivity.ENSURE_ROLE_ASSIGNMENT)
    async def ensure_role_assignment(
        self, req: contracts.RoleAssignmentRequest
    ) -> contracts.RoleAssignmentInfo:
        """Assign the role under the request's deterministic name; an equal assignment anywhere is done."""
        doing = f"assign role {req.role_guid} to {req.principal_id} on {req.scope}"
        try:
            subscription = req.subscription_id
        except ValueError as err:
            raise ApplicationError(f"{doing}: {err}", type="InvalidScope", non_retryable=True) from None
        _check_subscription(self._authz, subscription, doing)
        name = req.assignment_name
        try:
            found = await self._authz.role_assignments.get(req.scope, name)
        except ResourceNotFoundError:
            found = None
        except AZURE_FAILURES as err:
            raise classify(err, doing) from None
        if found is not None:
            return self._assignment_info(found, req, created=False)
        params = RoleAssignmentCreateParameters(
            role_definition_id=req.full_role_definition_id,
            principal_id=req.principal_id,
            principal_type=req.principal_type,
            description=req.description,
        )
        try:
            made = await self._authz.role_assignments.create(req.scope, name, params)
        except ResourceExistsError as err:
            if arm_code(err) != "RoleAssignmentExists":
                raise classify(err, doing) from None
            # The same (scope, role, principal) under another name — someone assigned it by hand.
            return await self._existing_assignment(req, doing)
        except AZURE_FAILURES as err:
            raise classify(err, doing) from None
        return self._assignment_info(made, req, created=True)

    async def _existing_assignment(
        self, req: contracts.RoleAssignmentRequest, doing: str
    ) -> contracts.RoleAssignmentInfo:
        try:
            async for ra in self._authz.role_assignments.list_for_scope(
                req.scope, filter=f"principalId eq '{req.principal_id}'"
            ):
                same_role = (
                    str(ra.role_definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower() == req.role_guid
                )
                same_scope = str(ra.scope or "").rstrip("/").lower() == req.scope.rstrip("/").lower()
                if same_role and same_scope:
                    return self._assignment_info(ra, req, created=False)
        except AZURE_FAILURES as err:
            raise classify(err, doing) from None
        raise ApplicationError(
            f"{doing}: ARM says RoleAssignmentExists but lists no such assignment yet",
            type="RoleAssignmentExists",
        )

    @staticmethod
    def _assignment_info(
        ra: RoleAssignment, req: contracts.RoleAssignmentRequest, *, created: bool
    ) -> contracts.RoleAssignmentInfo:
        got_role = str(ra.role_definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower()
        if got_role != req.role_guid or str(ra.principal_id or "").lower() != req.principal_id.lower():
            raise ApplicationError(
                f"role assignment {ra.name} at {req.scope} exists for principal {ra.principal_id} and role "
                f"{got_role}, not {req.principal_id} and {req.role_guid}",
                type="RoleAssignmentConflict",
                non_retryable=True,
            )
        return contracts.RoleAssignmentInfo(
            id=str(ra.id),
            name=str(ra.name),
            scope=str(ra.scope or req.scope),
            role_definition_id=str(ra.role_definition_id),
            principal_id=str(ra.principal_id),
            created=created,
        )

    # ---- 4. the federated identity credential -----------------------------------------------------

    @activity.defn(name=contracts.IdentityActivity.ENSURE_FEDERATED_CREDENTIAL)
    async def ensure_federated_credential(
        self, req: contracts.FederatedCredentialRequest
    ) -> contracts.FederatedCredentialInfo:
        """Write the credential unless an equal one (issuer, subject, audiences) already exists."""
        ident = req.identity
        doing = f"ensure federated credential {req.name} on {ident.name}"
        _check_subscription(self._msi, ident.subscription_id, doing)
        try:
            existing: FederatedIdentityCredential | None = await self._msi.federated_identity_credentials.get(
                ident.resource_group, ident.name, req.name
            )
        except ResourceNotFoundError:
            existing = None  # (if the identity itself is missing, the PUT's 404 says so, finally)
        except AZURE_FAILURES as err:
            raise classify(err, doing) from None
        if existing is not None and self._credential_equal(existing, req):
            return self._credential_info(existing, changed=False)
        wanted = FederatedIdentityCredential(
            issuer=req.issuer, subject=req.subject, audiences=list(req.audiences)
        )
        try:
            made = await self._msi.federated_identity_credentials.create_or_update(
                ident.resource_group, ident.name, req.name, wanted
            )
        except AZURE_FAILURES as err:
            raise classify(err, doing) from None
        return self._credential_info(made, changed=True)

    @staticmethod
    def _credential_equal(
        fic: FederatedIdentityCredential, req: contracts.FederatedCredentialRequest
    ) -> bool:
        # Entra compares issuer and subject as exact, case-sensitive strings (the trailing slash counts).
        return (
            fic.issuer == req.issuer
            and fic.subject == req.subject
            and sorted(fic.audiences or []) == sorted(req.audiences)
        )

    @staticmethod
    def _credential_info(
        fic: FederatedIdentityCredential, *, changed: bool
    ) -> contracts.FederatedCredentialInfo:
        return contracts.FederatedCredentialInfo(
            id=str(fic.id),
            name=str(fic.name),
            issuer=str(fic.issuer),
            subject=str(fic.subject),
            audiences=list(fic.audiences or []),
            changed=changed,
        )
