"""The cluster-bootstrap workflow: the seed's steps 2–6 as one idempotent, re-runnable workflow.

Id `bootstrap/<subscription>/<resource group>/<cluster>`, task queue `kaito-bootstrap`, served by a worker
holding the operator's credential (`python -m worker.bootstrap_worker`). Each step is its own retryable
activity with a summary, so the Temporal UI lists them in order:

 1. enable the OIDC issuer and workload identity on the cluster (long-running PUT, heartbeating)
 2. read the issuer URL (and the cluster's resource id and location)
 3. ensure the worker's user-assigned managed identity
 4. ensure its role (Contributor) on the cluster's resource id — RoleAssignmentExists is done,
    PrincipalNotFound (AAD replication) is retried with backoff
 5. ensure the federated credential: the cluster's issuer, the worker's service-account subject,
    audience api://AzureADTokenExchange
 6. check that the kubeconfig reaches this very cluster (its service-account issuer is the issuer URL)
 7. install the Workspace CRD
 8. namespace, service accounts (the worker's annotated with the identity), least-privilege RBAC
 9. the worker and controller Deployments

Every activity reads before it writes, so a second run writes nothing, and a run interrupted anywhere
(a worker killed) converges when Temporal retries the step on another worker.
"""

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.bootstrap_contracts import (
        BOOTSTRAP_WORKFLOW,
        PROGRESS_QUERY,
        TOKEN_EXCHANGE_AUDIENCE,
        AppliedObjects,
        BootstrapActivity,
        BootstrapProgress,
        BootstrapRequest,
        BootstrapResult,
        ClusterIssuer,
        ClusterSetup,
    )
    from workflows.identity_contracts import (
        ClusterRef,
        FederatedCredentialInfo,
        FederatedCredentialRequest,
        IdentityActivity,
        IdentityInfo,
        IdentityRef,
        IssuerInfo,
        RoleAssignmentInfo,
        RoleAssignmentRequest,
    )

T = TypeVar("T")

# Transient failures retry with backoff (PrincipalNotFound while AAD replicates a new identity takes up
# to minutes); what no retry can fix is non-retryable at the activity. The bound keeps a broken setup
# from retrying forever: ~8 minutes, after which the bootstrap fails and can simply be run again.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
)
CLUSTER_UPDATE_TIMEOUT = timedelta(minutes=30)
# A cluster busy with someone else's operation fails each attempt retryably (the activity never waits
# inside an attempt for an operation it did not start), so that step retries until the update's own
# budget is spent rather than for a bounded number of attempts.
UNTIL_CLUSTER_SETTLES = RetryPolicy(
    initial_interval=RETRY.initial_interval,
    backoff_coefficient=RETRY.backoff_coefficient,
    maximum_interval=RETRY.maximum_interval,
)
STEPS = 9
IDENTITY_TAGS = {"managed-by": "kaito-temporal"}


@workflow.defn(name=BOOTSTRAP_WORKFLOW)
class BootstrapWorkflow:
    def __init__(self) -> None:
        self._step = 0
        self._current = "starting"
        self._done: list[str] = []

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> BootstrapProgress:
        return BootstrapProgress(step=self._step, steps=STEPS, current=self._current, done=list(self._done))

    @workflow.run
    async def run(self, req: BootstrapRequest) -> BootstrapResult:
        cluster = ClusterRef(
            subscription_id=req.subscription_id,
            resource_group=req.resource_group,
            cluster_name=req.cluster_name,
        )
        name = req.cluster_name
        changed: list[str] = []

        enabled = await self._call(
            IdentityActivity.ENABLE_WORKLOAD_IDENTITY,
            cluster,
            IssuerInfo,
            f"enable the OIDC issuer and workload identity on {name} (long-running PUT)",
            req,
            timeout=CLUSTER_UPDATE_TIMEOUT,
            heartbeat=req.heartbeat_timeout,
            retry=UNTIL_CLUSTER_SETTLES,
            budget=CLUSTER_UPDATE_TIMEOUT,
        )
        if enabled.changed:
            changed.append(f"cluster {name}: OIDC issuer and workload identity enabled")

        issuer = await self._call(
            BootstrapActivity.READ_ISSUER, cluster, ClusterIssuer, f"read the OIDC issuer URL of {name}", req
        )

        identity_ref = IdentityRef(
            subscription_id=req.subscription_id,
            resource_group=req.resource_group,
            name=req.identity,
            location=req.location or issuer.location,
            tags=IDENTITY_TAGS,
        )
        identity = await self._call(
            IdentityActivity.ENSURE_IDENTITY,
            identity_ref,
            IdentityInfo,
            f"ensure the managed identity {req.identity}",
            req,
        )
        if identity.created:
            changed.append(f"managed identity {identity.name} created")

        role = await self._call(
            IdentityActivity.ENSURE_ROLE_ASSIGNMENT,
            RoleAssignmentRequest(
                scope=issuer.cluster_id,
                principal_id=identity.principal_id,
                role_definition_id=req.role_definition_id,
                description=f"kaito-temporal worker: GPU agent pools of {name}",
            ),
            RoleAssignmentInfo,
            f"ensure {identity.name} is Contributor on cluster {name}",
            req,
        )
        if role.created:
            changed.append(f"role assignment {role.name} created")

        credential = await self._call(
            IdentityActivity.ENSURE_FEDERATED_CREDENTIAL,
            FederatedCredentialRequest(
                identity=identity_ref,
                name=req.federated_credential_name,
                issuer=issuer.issuer_url,
                namespace=req.namespace,
                service_account=req.worker_service_account,
                audiences=[TOKEN_EXCHANGE_AUDIENCE],
            ),
            FederatedCredentialInfo,
            f"federate {identity.name} with {req.subject}",
            req,
        )
        if credential.changed:
            changed.append(f"federated credential {credential.name} written")

        await self._call(
            BootstrapActivity.CHECK_KUBE_TARGET,
            issuer,
            str,
            f"check the kubeconfig reaches {name} (issuer {issuer.issuer_url})",
            req,
        )
        setup = ClusterSetup(
            subscription_id=req.subscription_id,
            resource_group=req.resource_group,
            cluster_name=req.cluster_name,
            location=issuer.location,
            namespace=req.namespace,
            worker_service_account=req.worker_service_account,
            controller_service_account=req.controller_service_account,
            client_id=identity.client_id,
            tenant_id=identity.tenant_id,
            image=req.image,
            worker_replicas=req.worker_replicas,
            controller_replicas=req.controller_replicas,
            gateway_replicas=req.gateway_replicas,
            workspace_namespaces=req.workspace_namespaces,
        )
        applied = [
            await self._call(
                BootstrapActivity.INSTALL_CRD, setup, AppliedObjects, "install the Workspace CRD", req
            ),
            await self._call(
                BootstrapActivity.APPLY_ACCESS,
                setup,
                AppliedObjects,
                f"namespace {req.namespace}, service accounts (client-id {identity.client_id}), RBAC",
                req,
            ),
            await self._call(
                BootstrapActivity.APPLY_COMPONENTS,
                setup,
                AppliedObjects,
                "the worker and controller Deployments",
                req,
            ),
        ]
        self._current = "done"
        workflow.set_current_details(
            f"**done** — {identity.name} (clientId `{identity.client_id}`) federated with {req.subject}"
        )
        return BootstrapResult(
            client_id=identity.client_id,
            principal_id=identity.principal_id,
            tenant_id=identity.tenant_id,
            issuer_url=issuer.issuer_url,
            cluster_id=issuer.cluster_id,
            identity_id=identity.resource_id,
            role_assignment_id=role.id,
            federated_credential_id=credential.id,
            subject=credential.subject,
            azure_changed=changed,
            kube_created=[name for step in applied for name in step.created],
            kube_changed=[name for step in applied for name in step.changed],
            kube_applied=[name for step in applied for name in step.applied],
        )

    async def _call(
        self,
        activity: str,
        arg: Any,
        result_type: type[T],
        summary: str,
        req: BootstrapRequest,
        *,
        timeout: timedelta | None = None,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy = RETRY,
        budget: timedelta | None = None,
    ) -> T:
        """One step: an activity with a summary; a final failure names the step and keeps the cause's type."""
        self._step += 1
        self._current = summary
        workflow.set_current_details(f"**step {self._step}/{STEPS}** — {summary}")
        try:
            result: T = await workflow.execute_activity(
                activity,
                arg,
                result_type=result_type,
                start_to_close_timeout=timeout or req.activity_timeout,
                heartbeat_timeout=heartbeat,
                schedule_to_close_timeout=budget,
                retry_policy=retry,
                summary=summary[:200],
            )
        except ActivityError as err:
            cause = err.cause
            reason = cause.type if isinstance(cause, ApplicationError) and cause.type else "ActivityFailed"
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            raise ApplicationError(
                f"bootstrap step {self._step}/{STEPS} ({summary}) failed: {message}",
                type=reason,
                non_retryable=True,
            ) from err
        self._done.append(summary)
        return result
