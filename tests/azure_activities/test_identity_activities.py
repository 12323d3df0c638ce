"""The bootstrap's identity activities against the emulator through the real async SDK clients: OIDC issuer +
workload identity on the cluster (no PUT when already on; Temporal's retries wait out a busy cluster; a
lost PUT answer or a failed update converges), the user-assigned identity, the Contributor role
assignment (deterministic name, RoleAssignmentExists is done, PrincipalNotFound retried, other 400s final),
the federated credential (no PUT when equal) — and finally the worker's workload identity using what
they made."""

from __future__ import annotations

import uuid
from pathlib import Path

from azure.identity.aio import WorkloadIdentityCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.containerservice.models import AgentPool
from temporalio.testing import WorkflowEnvironment

from activities.agent_pools import AgentPoolActivities
from activities.azure_identity import IdentityActivities
from activities.workspace_objects import agent_pool_body
from localcloud.azure import AzureEmulator
from tests.azure_activities.conftest import CLUSTER, FAST, RG, activity_config
from tests.azure_activities.run_activity import Activities, Outcome, run_in_temporal
from tests.azure_emulator.helpers import snapshot
from tests.azure_emulator.oidc_issuer import TestIssuer
from workflows.identity_contracts import (
    CONTRIBUTOR_ROLE_ID,
    ROLE_ASSIGNMENT_NAMESPACE,
    TOKEN_EXCHANGE_AUDIENCE,
    ClusterRef,
    FederatedCredentialRequest,
    IdentityActivity,
    IdentityInfo,
    IdentityRef,
    RoleAssignmentRequest,
)
from workflows.workspace_contracts import ProvisioningPlan

NAMESPACE, SERVICE_ACCOUNT = "kaito-system", "kaito-worker"


def _statuses(emulator: AzureEmulator, op: str) -> list[int]:
    return [e.status for e in emulator.requests(op=op)]


def _cluster(emulator: AzureEmulator) -> ClusterRef:
    return ClusterRef(
        subscription_id=emulator.config.subscription_id, resource_group=RG, cluster_name=CLUSTER
    )


def _identity(emulator: AzureEmulator, **tags: str) -> IdentityRef:
    return IdentityRef(
        subscription_id=emulator.config.subscription_id,
        resource_group=RG,
        name="kaito-worker",
        location="eastus",
        tags=tags,
    )


def _role(emulator: AzureEmulator, principal_id: str, **overrides: str) -> RoleAssignmentRequest:
    return RoleAssignmentRequest(scope=_cluster(emulator).resource_id, principal_id=principal_id, **overrides)


# ---- 1. OIDC issuer + workload identity --------------------------------------------------------------


async def test_enable_workload_identity_then_no_put(
    emulator: AzureEmulator, issuer: TestIssuer, identities: IdentityActivities, act: Activities
) -> None:
    info = await act.run(identities.enable_cluster_workload_identity, _cluster(emulator))
    assert info.issuer_url == issuer.url and info.changed
    assert info.cluster_id.lower() == _cluster(emulator).resource_id.lower()
    assert _statuses(emulator, "managedClusters.put") == [200]
    assert any("enable OIDC issuer" in str(h) for h in act.heartbeats), "heartbeats during the update"

    again = await act.run(identities.enable_cluster_workload_identity, _cluster(emulator))
    assert again.issuer_url == issuer.url and not again.changed
    assert _statuses(emulator, "managedClusters.put") == [200], "already on: no PUT"


async def _enabled(env: WorkflowEnvironment, identities: IdentityActivities, ref: ClusterRef) -> Outcome:
    """enable_cluster_workload_identity through a Temporal worker, retried until it succeeds."""
    outcome = await run_in_temporal(
        env,
        [identities.enable_cluster_workload_identity],
        IdentityActivity.ENABLE_WORKLOAD_IDENTITY,
        ref,
        maximum_attempts=100,
    )
    assert outcome.error is None, outcome.error
    return outcome


async def test_enable_waits_for_a_busy_cluster(
    emulator: AzureEmulator,
    aks: ContainerServiceClient,
    identities: IdentityActivities,
    plan: ProvisioningPlan,
    act: Activities,
    temporal_env: WorkflowEnvironment,
) -> None:
    """An agent-pool operation makes the cluster PUT answer 409 OperationNotAllowed: the attempt fails
    retryably, and a later attempt PUTs once the pool's operation has ended."""
    emulator.config.durations.pool_create = 0.5
    creating = await aks.agent_pools.begin_create_or_update(
        RG, CLUSTER, plan.agent_pool, AgentPool(agent_pool_body(plan))
    )
    err = await act.fails(identities.enable_cluster_workload_identity, _cluster(emulator))
    assert (err.type, err.non_retryable, err.next_retry_delay) == (
        "OperationNotAllowed",
        False,
        FAST.busy_retry,
    )
    outcome = await _enabled(temporal_env, identities, _cluster(emulator))
    assert outcome.result is not None and outcome.result["changed"] and outcome.result["issuer_url"]
    puts = _statuses(emulator, "managedClusters.put")
    assert puts[0] == 409 and puts[-1] == 200 and set(puts) == {409, 200}
    assert (await creating.result()).provisioning_state == "Succeeded"


async def test_enable_after_a_lost_put_answer_converges(
    emulator: AzureEmulator,
    issuer: TestIssuer,
    identities: IdentityActivities,
    temporal_env: WorkflowEnvironment,
) -> None:
    emulator.add_fault({"match": "managedClusters.put", "drop_count": 1, "drop_after": True})
    outcome = await _enabled(temporal_env, identities, _cluster(emulator))
    assert outcome.result is not None and outcome.result["issuer_url"] == issuer.url
    assert _statuses(emulator, "managedClusters.put") == [-1, 409], "the re-sent PUT met its own update"
    assert outcome.attempts >= 2, "the 409 handed the wait to Temporal"


async def test_enable_when_the_update_fails_once(
    emulator: AzureEmulator,
    issuer: TestIssuer,
    identities: IdentityActivities,
    temporal_env: WorkflowEnvironment,
) -> None:
    emulator.add_fault({"match": "managedClusters.put", "lro_fail_count": 1})
    outcome = await _enabled(temporal_env, identities, _cluster(emulator))
    assert outcome.result is not None and outcome.result["issuer_url"] == issuer.url
    assert outcome.attempts == 2
    assert _statuses(emulator, "managedClusters.put") == [200, 200]


async def test_wrong_subscription_is_refused_before_any_call(
    emulator: AzureEmulator, identities: IdentityActivities, act: Activities
) -> None:
    other = _cluster(emulator).model_copy(update={"subscription_id": str(uuid.uuid4())})
    err = await act.fails(identities.enable_cluster_workload_identity, other)
    assert (err.type, err.non_retryable) == ("SubscriptionMismatch", True)
    assert not [e.op for e in emulator.requests() if e.op.startswith("managedClusters.")]


# ---- 2. the user-assigned identity -------------------------------------------------------------------


async def test_identity_is_created_once_and_keeps_its_ids(
    emulator: AzureEmulator, identities: IdentityActivities, act: Activities
) -> None:
    made = await act.run(identities.ensure_user_assigned_identity, _identity(emulator))
    assert made.created and made.tenant_id == emulator.config.tenant_id
    assert uuid.UUID(made.client_id) and uuid.UUID(made.principal_id)
    again = await act.run(identities.ensure_user_assigned_identity, _identity(emulator))
    assert again == made.model_copy(update={"created": False})
    assert _statuses(emulator, "userAssignedIdentities.put") == [201], "already there: no PUT"

    tagged = await act.run(identities.ensure_user_assigned_identity, _identity(emulator, owner="kaito"))
    assert (tagged.client_id, tagged.principal_id, tagged.created) == (
        made.client_id,
        made.principal_id,
        False,
    )
    assert _statuses(emulator, "userAssignedIdentities.put") == [201, 200]


# ---- 3. the role assignment --------------------------------------------------------------------------


async def _principal(
    identities: IdentityActivities, emulator: AzureEmulator, act: Activities
) -> IdentityInfo:
    return await act.run(identities.ensure_user_assigned_identity, _identity(emulator))


async def test_role_assignment_is_deterministic_and_idempotent(
    emulator: AzureEmulator, identities: IdentityActivities, act: Activities
) -> None:
    who = await _principal(identities, emulator, act)
    req = _role(emulator, who.principal_id)
    scope = _cluster(emulator).resource_id
    assert req.assignment_name == str(
        uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, f"{scope.lower()}|{CONTRIBUTOR_ROLE_ID}|{who.principal_id}")
    )
    made = await act.run(identities.ensure_role_assignment, req)
    assert made.created and made.name == req.assignment_name and made.scope == scope
    assert made.role_definition_id.endswith(f"/roleDefinitions/{CONTRIBUTOR_ROLE_ID}")
    assert _statuses(emulator, "roleAssignments.put") == [201]
    put = emulator.requests(op="roleAssignments.put")[0]
    assert put.path.endswith(f"/roleAssignments/{req.assignment_name}")

    again = await act.run(identities.ensure_role_assignment, req)
    assert again == made.model_copy(update={"created": False})
    assert _statuses(emulator, "roleAssignments.put") == [201], "found by name: no PUT"


async def test_role_assignment_exists_under_another_name_is_done(
    emulator: AzureEmulator,
    identities: IdentityActivities,
    authz: AuthorizationManagementClient,
    act: Activities,
) -> None:
    who = await _principal(identities, emulator, act)
    req = _role(emulator, who.principal_id)
    by_hand = str(uuid.uuid4())
    await authz.role_assignments.create(
        req.scope,
        by_hand,
        RoleAssignmentCreateParameters(
            role_definition_id=req.full_role_definition_id,
            principal_id=who.principal_id,
            principal_type="ServicePrincipal",
        ),
    )
    found = await act.run(identities.ensure_role_assignment, req)
    assert (found.name, found.created) == (by_hand, False)
    assert _statuses(emulator, "roleAssignments.put") == [201, 409]


async def test_principal_not_found_is_retried_until_replicated(
    emulator: AzureEmulator,
    identities: IdentityActivities,
    act: Activities,
    temporal_env: WorkflowEnvironment,
) -> None:
    """Right after the identity is created AAD may not know it yet: retryable, and Temporal's retry wins."""
    who = await _principal(identities, emulator, act)
    replication = {
        "match": "roleAssignments.put",
        "error_count": 1,
        "error_status": 400,
        "error_code": "PrincipalNotFound",
        "error_message": f"Principal {who.principal_id.replace('-', '')} does not exist in the directory "
        f"{emulator.config.tenant_id}. ... this error might be related to a replication delay.",
    }
    emulator.add_fault(replication)
    err = await act.fails(identities.ensure_role_assignment, _role(emulator, who.principal_id))
    assert (err.type, err.non_retryable) == ("PrincipalNotFound", False)
    assert "replication delay" in err.message

    emulator.add_fault(replication)
    outcome = await run_in_temporal(
        temporal_env,
        [identities.ensure_role_assignment],
        IdentityActivity.ENSURE_ROLE_ASSIGNMENT,
        _role(emulator, who.principal_id),
    )
    assert outcome.error is None, outcome.error
    assert outcome.result is not None and outcome.result["created"]
    assert outcome.attempts == 2
    assert _statuses(emulator, "roleAssignments.put") == [400, 400, 201]


async def test_other_role_assignment_400s_are_final(
    emulator: AzureEmulator, identities: IdentityActivities, act: Activities
) -> None:
    who = await _principal(identities, emulator, act)
    before = snapshot(emulator)
    err = await act.fails(
        identities.ensure_role_assignment, _role(emulator, who.principal_id, principal_type="User")
    )
    assert (err.type, err.non_retryable) == ("UnmatchedPrincipalType", True)
    assert "ServicePrincipal" in err.message
    unknown_role = _role(emulator, who.principal_id, role_definition_id=str(uuid.uuid4()))
    err = await act.fails(identities.ensure_role_assignment, unknown_role)
    assert (err.type, err.non_retryable) == ("RoleDefinitionDoesNotExist", True)
    assert snapshot(emulator) == before


# ---- 4. the federated identity credential ------------------------------------------------------------


async def test_federated_credential_no_put_when_equal(
    emulator: AzureEmulator, issuer: TestIssuer, identities: IdentityActivities, act: Activities
) -> None:
    await _principal(identities, emulator, act)
    info = await act.run(identities.enable_cluster_workload_identity, _cluster(emulator))
    req = FederatedCredentialRequest(
        identity=_identity(emulator),
        name="kaito-worker",
        issuer=info.issuer_url,
        namespace=NAMESPACE,
        service_account=SERVICE_ACCOUNT,
    )
    made = await act.run(identities.ensure_federated_credential, req)
    assert made.changed and made.subject == "system:serviceaccount:kaito-system:kaito-worker"
    assert (made.issuer, made.audiences) == (issuer.url, [TOKEN_EXCHANGE_AUDIENCE])
    again = await act.run(identities.ensure_federated_credential, req)
    assert again == made.model_copy(update={"changed": False})
    assert _statuses(emulator, "federatedIdentityCredentials.put") == [201], "equal: no PUT"

    moved = req.model_copy(update={"service_account": "other-worker"})
    changed = await act.run(identities.ensure_federated_credential, moved)
    assert changed.changed and changed.subject.endswith(":other-worker")
    assert _statuses(emulator, "federatedIdentityCredentials.put") == [201, 200]


async def test_federated_credential_for_a_missing_identity_is_final(
    emulator: AzureEmulator, issuer: TestIssuer, identities: IdentityActivities, act: Activities
) -> None:
    req = FederatedCredentialRequest(
        identity=_identity(emulator),
        name="kaito-worker",
        issuer=issuer.url,
        namespace="x",
        service_account="y",
    )
    err = await act.fails(identities.ensure_federated_credential, req)
    assert err.non_retryable and err.type == "ResourceNotFound"


# ---- the whole bootstrap, then the worker's own identity ---------------------------------------------


async def test_bootstrap_gives_the_worker_a_working_identity(
    emulator: AzureEmulator,
    issuer: TestIssuer,
    identities: IdentityActivities,
    plan: ProvisioningPlan,
    act: Activities,
    tmp_path: Path,
) -> None:
    """After the four activities, the worker's WorkloadIdentityCredential (a service-account token signed by
    the cluster's issuer) can run the agent-pool activity; before the role assignment ARM says 403, final."""
    issuer_info = await act.run(identities.enable_cluster_workload_identity, _cluster(emulator))
    who = await act.run(identities.ensure_user_assigned_identity, _identity(emulator))
    await act.run(
        identities.ensure_federated_credential,
        FederatedCredentialRequest(
            identity=_identity(emulator),
            name="kaito-worker",
            issuer=issuer_info.issuer_url,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
        ),
    )
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(issuer.mint(f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"))
    async with (
        WorkloadIdentityCredential(
            tenant_id=who.tenant_id,
            client_id=who.client_id,
            token_file_path=str(token_file),
            **emulator.credential_kwargs(),
        ) as cred,
        ContainerServiceClient(cred, emulator.config.subscription_id, **emulator.client_kwargs()) as aks,
    ):
        pools = AgentPoolActivities(activity_config(emulator), aks, waits=FAST)
        denied = await act.fails(pools.ensure_agent_pool, plan)
        assert (denied.type, denied.non_retryable) == ("AuthorizationFailed", True)
        assert who.client_id in denied.message or who.principal_id in denied.message

        await act.run(
            identities.ensure_role_assignment,
            RoleAssignmentRequest(scope=issuer_info.cluster_id, principal_id=who.principal_id),
        )
        state = await act.run(pools.ensure_agent_pool, plan)
        assert state.provisioning_state == "Succeeded"
        put = emulator.requests(op="agentPools.put")[-1]
        assert put.principal == who.principal_id, "the pool was made by the worker's own identity"
