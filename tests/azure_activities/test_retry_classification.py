"""Which failures retry and which are final, with ARM's code as the error type, against the emulator's
injected faults through the real SDK pipeline: 429 bursts and 5xx absorbed by the SDK's retry policy
inside one attempt, what it gives up on surfacing as retryable, dropped connections and timeouts, an LRO
that fails once and converges on Temporal's retry, and quota / unknown size / bad name as final errors
that create nothing."""

from __future__ import annotations

import time
from datetime import timedelta

from azure.mgmt.containerservice.aio import ContainerServiceClient
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.agent_pools import AgentPoolActivities
from localcloud.azure import AzureEmulator, PoolEvent
from tests.azure_activities.conftest import FAST, activity_config
from tests.azure_activities.run_activity import Activities, run_in_temporal
from tests.azure_emulator.helpers import snapshot
from tests.azure_fixtures import ArmFactory
from workflows.workspace_contracts import ActivityName, PoolScale, ProvisioningPlan


def _statuses(emulator: AzureEmulator, op: str) -> list[int]:
    return [e.status for e in emulator.requests(op=op)]


def _pools_with(emulator: AzureEmulator, make_arm: ArmFactory, **client: object) -> AgentPoolActivities:
    return AgentPoolActivities(
        activity_config(emulator), make_arm(ContainerServiceClient, **client), waits=FAST
    )


def _pool_operation_fails_once(emulator: AzureEmulator, code: str, message: str) -> None:
    """The next agent-pool PUT is accepted, and its operation ends Failed with ARM's `code` and `message`."""
    emulator.add_fault(
        {"match": "agentPools.put", "lro_fail_count": 1, "lro_fail_code": code, "lro_fail_message": message}
    )


def _final_cause(err: BaseException | None) -> ApplicationError:
    assert isinstance(err, WorkflowFailureError), err
    assert isinstance(err.cause, ActivityError), err.cause
    assert isinstance(err.cause.cause, ApplicationError), err.cause.cause
    return err.cause.cause


# ---- absorbed inside one attempt by the SDK's retry policy ------------------------------------------


async def test_429_burst_is_absorbed_honouring_retry_after(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    emulator.add_fault({"match": "agentPools.put", "throttle_count": 2, "retry_after": 1})
    started = time.monotonic()
    state = await act.run(pools.ensure_agent_pool, plan)
    assert state.provisioning_state == "Succeeded"
    assert _statuses(emulator, "agentPools.put") == [429, 429, 201]
    assert time.monotonic() - started >= 2.0, "two Retry-After: 1 waits inside the attempt"


async def test_5xx_are_absorbed(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    emulator.add_fault({"match": "agentPools.put", "error_count": 1, "error_status": 503})
    emulator.add_fault({"match": "operations.get", "error_count": 1, "error_status": 500})
    emulator.add_fault({"match": "agentPools.get", "error_count": 1, "error_status": 502})
    state = await act.run(pools.ensure_agent_pool, plan)
    assert state.provisioning_state == "Succeeded"
    assert _statuses(emulator, "agentPools.put") == [503, 201]
    assert _statuses(emulator, "operations.get")[:2] == [500, 200]
    assert _statuses(emulator, "agentPools.get")[:2] == [502, 404]


async def test_dropped_connection_is_absorbed(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    emulator.add_fault({"match": "agentPools.put", "drop_count": 1})  # lost before it took effect
    state = await act.run(pools.ensure_agent_pool, plan)
    assert state.provisioning_state == "Succeeded"
    assert _statuses(emulator, "agentPools.put") == [-1, 201]


# ---- what the SDK gives up on: retryable, typed -------------------------------------------------------


async def test_persistent_429_is_retryable_with_arms_delay(
    emulator: AzureEmulator, make_arm: ArmFactory, plan: ProvisioningPlan, act: Activities
) -> None:
    emulator.add_fault({"match": "agentPools.get", "throttle_rate": 1.0, "retry_after": 7})
    pools = _pools_with(emulator, make_arm, retry_total=0)
    err = await act.fails(pools.ensure_agent_pool, plan)
    assert (err.type, err.non_retryable) == ("TooManyRequests", False)
    assert err.next_retry_delay == timedelta(seconds=7), "Temporal's next attempt waits what ARM asked"
    assert "throttled" in err.message and err.details[0]["status"] == 429


async def test_persistent_5xx_is_retryable(
    emulator: AzureEmulator, make_arm: ArmFactory, plan: ProvisioningPlan, act: Activities
) -> None:
    emulator.add_fault({"match": "agentPools.put", "error_rate": 1.0, "error_status": 503})
    pools = _pools_with(emulator, make_arm, retry_total=1, retry_backoff_factor=0.01)
    err = await act.fails(pools.ensure_agent_pool, plan)
    assert (err.type, err.non_retryable) == ("ServiceUnavailable", False)
    assert _statuses(emulator, "agentPools.put") == [503, 503]


async def test_persistent_dropped_connections_are_retryable(
    emulator: AzureEmulator, make_arm: ArmFactory, plan: ProvisioningPlan, act: Activities
) -> None:
    emulator.add_fault({"match": "agentPools.get", "drop_rate": 1.0})
    pools = _pools_with(emulator, make_arm, retry_total=1, retry_backoff_factor=0.01)
    err = await act.fails(pools.ensure_agent_pool, plan)
    assert (err.type, err.non_retryable) == ("ServiceRequestError", False)
    assert "Server disconnected" in err.message
    dropped = _statuses(emulator, "agentPools.get")
    assert len(dropped) >= 2 and set(dropped) == {-1}, "the SDK re-sent before giving up"


async def test_timeouts_are_retryable(
    emulator: AzureEmulator, make_arm: ArmFactory, plan: ProvisioningPlan, act: Activities
) -> None:
    emulator.add_fault({"match": "agentPools.get", "latency_ms": 1500})
    pools = _pools_with(emulator, make_arm, retry_total=0, read_timeout=0.3)
    err = await act.fails(pools.ensure_agent_pool, plan)
    assert err.type == "ServiceResponseTimeoutError" and "Timeout on reading" in err.message
    assert not err.non_retryable


# ---- an LRO that fails once, then converges on Temporal's retry -------------------------------------


async def test_lro_failing_once_is_retryable_and_the_retry_converges(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    """As Temporal's retry would run it: attempt 1 fails retryably, attempt 2 finds the Failed pool and
    re-PUTs it; one pool, no duplicate."""
    _pool_operation_fails_once(
        emulator,
        "VMExtensionProvisioningError",
        "VM has reported a failure when processing extension 'vmssCSE'.",
    )
    err = await act.fails(pools.ensure_agent_pool, plan)
    assert (err.type, err.non_retryable) == ("VMExtensionProvisioningError", False)
    assert "vmssCSE" in err.message
    assert [p.provisioning_state for p in emulator.agent_pools() if p.name == plan.agent_pool] == ["Failed"]
    state = await act.run(pools.ensure_agent_pool, plan)
    assert (state.provisioning_state, state.count) == ("Succeeded", plan.node_count)
    assert _statuses(emulator, "agentPools.put") == [201, 200]


async def test_lro_failing_once_through_a_temporal_worker(
    emulator: AzureEmulator,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    temporal_env: WorkflowEnvironment,
) -> None:
    events: list[PoolEvent] = []
    emulator.add_pool_listener(events.append)
    emulator.add_fault({"match": "agentPools.put", "lro_fail_count": 1})
    outcome = await run_in_temporal(
        temporal_env, [pools.scale_agent_pool], ActivityName.SCALE_AGENT_POOL, PoolScale(plan=plan, count=2)
    )
    assert outcome.error is None, outcome.error
    assert outcome.result is not None and outcome.result["provisioning_state"] == "Succeeded"
    assert outcome.result["count"] == 2
    assert outcome.attempts == 2, "Temporal retried the activity once"
    assert [e.kind for e in events] == ["provisioning", "failed", "provisioning", "succeeded"]


async def test_lro_failing_for_quota_is_final(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    _pool_operation_fails_once(
        emulator,
        "QuotaExceeded",
        "Operation could not be completed as it results in exceeding approved quota.",
    )
    err = await act.fails(pools.ensure_agent_pool, plan)
    assert (err.type, err.non_retryable) == ("QuotaExceeded", True)


async def test_a_409_about_quota_is_final_not_busy(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    """AKS reports a scale-set quota as 409 OperationNotAllowed; no amount of waiting fixes that."""
    emulator.add_fault(
        {
            "match": "agentPools.put",
            "error_count": 1,
            "error_status": 409,
            "error_code": "OperationNotAllowed",
            "error_message": "Operation could not be completed as it results in exceeding approved "
            "standardNCSv3Family Cores quota. Additional details - Deployment Model: Resource Manager",
        }
    )
    err = await act.fails(pools.ensure_agent_pool, plan)
    assert (err.type, err.non_retryable) == ("OperationNotAllowed", True)
    assert "Cores quota" in err.message
    assert _statuses(emulator, "agentPools.put") == [409], "not mistaken for 'another operation is running'"


# ---- final: refused by ARM, nothing created ---------------------------------------------------------


async def test_quota_exceeded_is_final_with_arms_message_and_creates_nothing(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    too_big = plan.model_copy(update={"node_count": 5})  # 5 × 12 cores > the family's 48
    before = snapshot(emulator)
    err = await act.fails(pools.ensure_agent_pool, too_big)
    assert (err.type, err.non_retryable) == ("QuotaExceeded", True)
    # The numbers of ARM's long message, one sentence, and the fix; the code is the type, never repeated.
    assert "the standardNCSv3Family quota in eastus is 48 vCPUs, 0 are in use and 60 more" in err.message
    assert "request a standardNCSv3Family quota of at least 60 vCPUs in eastus" in err.message
    assert "QuotaExceeded" not in err.message
    assert err.details[0]["code"] == "QuotaExceeded" and err.details[0]["status"] == 400
    assert snapshot(emulator) == before, "nothing created"
    assert _statuses(emulator, "agentPools.put") == [400], "asked once: no retry"


async def test_unknown_vm_size_is_final_and_creates_nothing(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    odd = plan.model_copy(update={"instance_type": "Standard_NC99xyz_v9"})
    before = snapshot(emulator)
    err = await act.fails(pools.ensure_agent_pool, odd)
    assert err.non_retryable and err.type == "BadRequest"
    assert "The VM size of" in err.message and "Standard_NC99xyz_v9" in err.message
    assert snapshot(emulator) == before


async def test_invalid_pool_name_is_final(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    bad = plan.model_copy(update={"agent_pool": "GPU-Pool"})
    err = await act.fails(pools.ensure_agent_pool, bad)
    assert (err.type, err.non_retryable) == ("InvalidParameter", True)
    assert "agentPoolProfile.name" in err.message


async def test_final_errors_stop_temporal_after_one_attempt(
    emulator: AzureEmulator,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    temporal_env: WorkflowEnvironment,
) -> None:
    too_big = plan.model_copy(update={"node_count": 5})
    before = snapshot(emulator)
    outcome = await run_in_temporal(
        temporal_env, [pools.ensure_agent_pool], ActivityName.ENSURE_AGENT_POOL, too_big
    )
    cause = _final_cause(outcome.error)
    assert (cause.type, cause.non_retryable) == ("QuotaExceeded", True)
    assert "the standardNCSv3Family quota in eastus is 48 vCPUs" in cause.message
    assert outcome.attempts == 1
    assert snapshot(emulator) == before
