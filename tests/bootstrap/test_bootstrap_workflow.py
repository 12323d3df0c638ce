"""The bootstrap workflow's order, arguments, retries and failures, on the time-skipping test server."""

import itertools
import json
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.bootstrap.fakes import CLIENT_ID, ISSUER, PRINCIPAL_ID, TENANT_ID, FakeBootstrapCloud
from workflows.bootstrap_contracts import (
    PROGRESS_QUERY,
    BootstrapActivity,
    BootstrapProgress,
    BootstrapRequest,
    BootstrapResult,
    ClusterSetup,
)
from workflows.bootstrap_workflow import BootstrapWorkflow
from workflows.identity_contracts import (
    CONTRIBUTOR_ROLE_ID,
    FederatedCredentialRequest,
    IdentityActivity,
    IdentityRef,
    RoleAssignmentRequest,
)

REQUEST = BootstrapRequest(subscription_id="sub", resource_group="rg", cluster_name="aks")
CLUSTER_ID = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks"
ORDER = [
    IdentityActivity.ENABLE_WORKLOAD_IDENTITY,
    BootstrapActivity.READ_ISSUER,
    IdentityActivity.ENSURE_IDENTITY,
    IdentityActivity.ENSURE_ROLE_ASSIGNMENT,
    IdentityActivity.ENSURE_FEDERATED_CREDENTIAL,
    BootstrapActivity.CHECK_KUBE_TARGET,
    BootstrapActivity.INSTALL_CRD,
    BootstrapActivity.APPLY_ACCESS,
    BootstrapActivity.APPLY_COMPONENTS,
]


async def run(
    env: WorkflowEnvironment, cloud: FakeBootstrapCloud, request: BootstrapRequest = REQUEST
) -> tuple[BootstrapResult | BaseException, WorkflowHistory, BootstrapProgress]:
    queue = f"bootstrap-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=queue, workflows=[BootstrapWorkflow], activities=cloud.activities()
    ):
        handle = await env.client.start_workflow(
            BootstrapWorkflow.run, request, id=request.workflow_id, task_queue=queue
        )
        outcome: BootstrapResult | BaseException
        try:
            outcome = await handle.result()
        except WorkflowFailureError as failure:
            outcome = failure
        progress = await handle.query(PROGRESS_QUERY, result_type=BootstrapProgress)
        return outcome, await handle.fetch_history(), progress


def summaries(history: WorkflowHistory) -> list[str]:
    out = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            out.append(json.loads(event.user_metadata.summary.data))
    return out


async def test_the_steps_run_in_order_each_with_a_summary(env: WorkflowEnvironment) -> None:
    cloud = FakeBootstrapCloud()
    result, history, progress = await run(env, cloud)
    assert isinstance(result, BootstrapResult)
    assert cloud.names() == ORDER
    assert len(summaries(history)) == len(ORDER)
    assert summaries(history)[0].startswith("enable the OIDC issuer and workload identity on aks")
    assert summaries(history)[3] == "ensure kaito-worker-aks is Contributor on cluster aks"
    assert progress.step == 9 and progress.current == "done" and len(progress.done) == 9

    assert (result.client_id, result.principal_id, result.tenant_id) == (CLIENT_ID, PRINCIPAL_ID, TENANT_ID)
    assert result.issuer_url == ISSUER and result.cluster_id == CLUSTER_ID
    assert result.subject == "system:serviceaccount:kaito-system:kaito-worker"
    assert result.audience == "api://AzureADTokenExchange"
    assert len(result.azure_changed) == 4 and result.kube_created


async def test_each_step_gets_what_the_previous_ones_found(env: WorkflowEnvironment) -> None:
    cloud = FakeBootstrapCloud()
    await run(env, cloud)
    identity: IdentityRef = cloud.arg(IdentityActivity.ENSURE_IDENTITY)
    assert identity.location == "westus3", "the cluster's location when the request names none"
    assert identity.name == "kaito-worker-aks"
    role: RoleAssignmentRequest = cloud.arg(IdentityActivity.ENSURE_ROLE_ASSIGNMENT)
    assert role.scope == CLUSTER_ID and role.principal_id == PRINCIPAL_ID
    assert role.role_guid == CONTRIBUTOR_ROLE_ID and role.principal_type == "ServicePrincipal"
    fic: FederatedCredentialRequest = cloud.arg(IdentityActivity.ENSURE_FEDERATED_CREDENTIAL)
    assert fic.issuer == ISSUER and fic.audiences == ["api://AzureADTokenExchange"]
    assert fic.subject == "system:serviceaccount:kaito-system:kaito-worker"
    setup: ClusterSetup = cloud.arg(BootstrapActivity.APPLY_ACCESS)
    assert (setup.client_id, setup.tenant_id) == (CLIENT_ID, TENANT_ID)
    assert setup.location == "westus3" and setup.worker_replicas == 1


async def test_principal_not_found_is_retried_with_backoff(env: WorkflowEnvironment) -> None:
    cloud = FakeBootstrapCloud(principal_not_found=3)
    result, _history, _ = await run(env, cloud)
    assert isinstance(result, BootstrapResult)
    times = cloud.attempts[IdentityActivity.ENSURE_ROLE_ASSIGNMENT]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert len(times) == 4
    assert gaps == pytest.approx([1, 2, 4], abs=0.5), "exponential backoff from 1 s"
    assert cloud.names().count(IdentityActivity.ENSURE_IDENTITY) == 1, "only the failing step repeats"


async def test_a_final_error_stops_the_bootstrap_and_names_its_step(env: WorkflowEnvironment) -> None:
    cloud = FakeBootstrapCloud(final_failure_at=IdentityActivity.ENSURE_FEDERATED_CREDENTIAL)
    result, _, progress = await run(env, cloud)
    assert isinstance(result, WorkflowFailureError)
    cause = result.cause
    assert isinstance(cause, ApplicationError) and cause.type == "AuthorizationFailed"
    assert "step 5/9 (federate kaito-worker-aks with system:serviceaccount:kaito-system:kaito-worker)" in str(
        cause
    )
    assert cloud.names() == ORDER[:5], "nothing after the failed step, and no retry of it"
    assert progress.step == 5 and len(progress.done) == 4


async def test_transient_failures_are_retried_but_not_forever(env: WorkflowEnvironment) -> None:
    cloud = FakeBootstrapCloud(always_failing=BootstrapActivity.INSTALL_CRD)
    result, _, _ = await run(env, cloud)
    assert isinstance(result, WorkflowFailureError)
    assert isinstance(result.cause, ApplicationError) and result.cause.type == "ServiceUnavailable"
    times = cloud.attempts[BootstrapActivity.INSTALL_CRD]
    assert len(times) == 20
    assert (times[-1] - times[0]) > timedelta(minutes=7), "backoff capped at 30 s, ~8 minutes in all"


async def test_replica_counts_and_namespaces_reach_the_cluster_steps(env: WorkflowEnvironment) -> None:
    cloud = FakeBootstrapCloud()
    request = REQUEST.model_copy(
        update={
            "worker_replicas": 0,
            "controller_replicas": 0,
            "workspace_namespaces": ["ml"],
            "image": "x:1",
        }
    )
    await run(env, cloud, request)
    setup: ClusterSetup = cloud.arg(BootstrapActivity.APPLY_COMPONENTS)
    assert (setup.worker_replicas, setup.controller_replicas, setup.workspace_namespaces, setup.image) == (
        0,
        0,
        ["ml"],
        "x:1",
    )
