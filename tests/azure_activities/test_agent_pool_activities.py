"""The agent-pool activities against the emulator through the real async SDK: ensure (create, no PUT when
already as desired), scale (to 0 and back; an absent pool is not created to be scaled to 0), delete (404
is done), and convergence instead of duplication: an attempt that meets another operation on the pool (its
provisioningState, or a 409 to its PUT) fails retryably, and Temporal's retries wait it out, each attempt
reading the pool again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.core.polling import AsyncLROPoller
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.containerservice.models import AgentPool
from pydantic import BaseModel
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.agent_pools import AgentPoolActivities
from activities.workspace_objects import agent_pool_body
from localcloud.azure import AzureEmulator, PoolEvent
from tests.azure_activities.conftest import CLUSTER, FAST, RG
from tests.azure_activities.run_activity import Activities, Outcome, run_in_temporal
from tests.azure_emulator.helpers import snapshot
from tests.waiting import wait_for_async
from workflows.workspace_contracts import ActivityName, AgentPoolState, PoolScale, ProvisioningPlan

# Enough for Temporal to wait out a 0.6 s operation in FAST.busy_retry steps, few enough to stop a spin.
BUSY_ATTEMPTS = 100


def _statuses(emulator: AzureEmulator, op: str) -> list[int]:
    return [e.status for e in emulator.requests(op=op)]


def _nodes(emulator: AzureEmulator, name: str) -> list[int]:
    return [p.node_count for p in emulator.agent_pools() if p.name == name]


def _pool_events(emulator: AzureEmulator) -> list[PoolEvent]:
    events: list[PoolEvent] = []
    emulator.add_pool_listener(events.append)
    return events


async def _retried(
    env: WorkflowEnvironment, pools: AgentPoolActivities, name: str, arg: BaseModel
) -> Outcome:
    """The activity through a Temporal worker; it must succeed, however many attempts that takes."""
    activities: list[Callable[..., Any]] = [
        pools.ensure_agent_pool,
        pools.scale_agent_pool,
        pools.delete_agent_pool,
    ]
    outcome = await run_in_temporal(env, activities, name, arg, maximum_attempts=BUSY_ATTEMPTS)
    assert outcome.error is None, outcome.error
    return outcome


async def _someone_else_creates(
    emulator: AzureEmulator, aks: ContainerServiceClient, plan: ProvisioningPlan
) -> AsyncLROPoller[AgentPool]:
    """Another client's create of the pool, with 2 nodes (the plan wants 1), running for 0.6 s."""
    emulator.config.durations.pool_create = 0.6
    return await aks.agent_pools.begin_create_or_update(
        RG, CLUSTER, plan.agent_pool, AgentPool(agent_pool_body(plan, count=2))
    )


def _state(outcome: Outcome) -> AgentPoolState:
    return AgentPoolState.model_validate(outcome.result)


async def test_ensure_creates_the_pool_and_a_second_ensure_sends_no_put(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    state = await act.run(pools.ensure_agent_pool, plan)
    assert (state.name, state.provisioning_state, state.count, state.vm_size) == (
        plan.agent_pool,
        "Succeeded",
        plan.node_count,
        "Standard_NC12s_v3",
    )
    assert _statuses(emulator, "agentPools.put") == [201]
    assert act.heartbeats, "heartbeats while the create operation ran"
    assert any("put agent pool" in str(h) for h in act.heartbeats)
    pool = next(p for p in emulator.agent_pools() if p.name == plan.agent_pool)
    assert pool.node_labels["kaito.sh/workspace"] == plan.name and pool.node_taints == ["sku=gpu:NoSchedule"]

    before = len(emulator.requests())
    again = await act.run(pools.ensure_agent_pool, plan)
    assert again == state
    assert _statuses(emulator, "agentPools.put") == [201], "no second PUT"
    assert [e.op for e in emulator.requests()[before:]] == ["agentPools.get"]


async def test_scale_to_zero_and_back(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    await act.run(pools.ensure_agent_pool, plan)
    down = await act.run(pools.scale_agent_pool, PoolScale(plan=plan, count=0))
    assert (down.provisioning_state, down.count) == ("Succeeded", 0)
    assert _nodes(emulator, plan.agent_pool) == [0]
    await act.run(pools.scale_agent_pool, PoolScale(plan=plan, count=0))
    assert _statuses(emulator, "agentPools.put") == [201, 200], "scaling to 0 twice PUTs once"

    up = await act.run(pools.scale_agent_pool, PoolScale(plan=plan, count=2))
    assert (up.provisioning_state, up.count) == ("Succeeded", 2)
    assert _nodes(emulator, plan.agent_pool) == [2]
    # ensure brings it back to the plan's count
    assert (await act.run(pools.ensure_agent_pool, plan)).count == plan.node_count


async def test_scaling_an_absent_pool(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    before = snapshot(emulator)
    gone = await act.run(pools.scale_agent_pool, PoolScale(plan=plan, count=0))
    assert (gone.provisioning_state, gone.count) == ("NotFound", 0)
    assert snapshot(emulator) == before and not emulator.requests(op="agentPools.put")
    made = await act.run(pools.scale_agent_pool, PoolScale(plan=plan, count=1))
    assert (made.provisioning_state, made.count) == ("Succeeded", 1)


async def test_concurrent_ensures_create_one_pool(
    emulator: AzureEmulator,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    temporal_env: WorkflowEnvironment,
) -> None:
    """Two activities racing (e.g. a worker presumed dead and its retry): one create, both succeed."""
    events = _pool_events(emulator)
    first, second = await asyncio.gather(
        _retried(temporal_env, pools, ActivityName.ENSURE_AGENT_POOL, plan),
        _retried(temporal_env, pools, ActivityName.ENSURE_AGENT_POOL, plan),
    )
    assert _state(first) == _state(second) and _state(first).provisioning_state == "Succeeded"
    puts = _statuses(emulator, "agentPools.put")
    assert puts.count(201) == 1 and set(puts) <= {201, 409}, "the loser waited for, or met, the winner's"
    assert [e.kind for e in events if e.pool.name == plan.agent_pool] == ["provisioning", "succeeded"]


async def test_ensure_waits_out_an_operation_already_running(
    emulator: AzureEmulator,
    aks: ContainerServiceClient,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    act: Activities,
    temporal_env: WorkflowEnvironment,
) -> None:
    """A pool Creating by someone else: no attempt waits for it or races it (it fails retryably, sending
    nothing); Temporal's attempts re-read it until it settles, then scale it."""
    other = await _someone_else_creates(emulator, aks, plan)
    for activity in (pools.ensure_agent_pool, pools.delete_agent_pool):
        err = await act.fails(activity, plan)
        assert (err.type, err.non_retryable) == ("AnotherOperationInProgress", False)
        assert err.next_retry_delay == FAST.busy_retry, "the next attempt comes after busy_retry"
        assert f"agent pool {plan.agent_pool} is Creating" in err.message
    assert _statuses(emulator, "agentPools.put") == [201] and not emulator.requests(op="agentPools.delete")

    outcome = await _retried(temporal_env, pools, ActivityName.ENSURE_AGENT_POOL, plan)  # the plan wants 1
    state = _state(outcome)
    assert (state.provisioning_state, state.count) == ("Succeeded", plan.node_count)
    assert _statuses(emulator, "agentPools.put") == [201, 200], "waited, then scaled; never a 409"
    assert outcome.attempts >= 2 and outcome.attempts == len(outcome.failures) + 1
    assert all(f"agent pool {plan.agent_pool} is Creating" in failure for failure in outcome.failures)
    await other.result()


async def test_a_put_meeting_409_busy_is_retried_and_makes_one_pool(
    emulator: AzureEmulator,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    temporal_env: WorkflowEnvironment,
) -> None:
    """The PUT took effect, its answer was lost, the SDK re-sent it and met its own operation (409):
    Temporal retries, and the attempts find that one operation instead of starting a second."""
    events = _pool_events(emulator)
    emulator.add_fault({"match": "agentPools.put", "drop_count": 1, "drop_after": True})
    outcome = await _retried(temporal_env, pools, ActivityName.ENSURE_AGENT_POOL, plan)
    state = _state(outcome)
    assert (state.provisioning_state, state.count) == ("Succeeded", plan.node_count)
    assert _statuses(emulator, "agentPools.put") == [-1, 409]
    assert [e.kind for e in events] == ["provisioning", "succeeded"], "exactly one operation"
    assert outcome.attempts >= 2


async def test_conflicting_pool_is_refused(
    emulator: AzureEmulator,
    aks: ContainerServiceClient,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    act: Activities,
) -> None:
    other_size = plan.model_copy(update={"instance_type": "Standard_NC6s_v3"})
    await (
        await aks.agent_pools.begin_create_or_update(
            RG, CLUSTER, plan.agent_pool, AgentPool(agent_pool_body(other_size))
        )
    ).result()
    before = snapshot(emulator)
    err = await act.fails(pools.ensure_agent_pool, plan)
    assert err.type == "AgentPoolConflict" and err.non_retryable and "Standard_NC6s_v3" in err.message
    assert snapshot(emulator) == before

    system = plan.model_copy(update={"agent_pool": "nodepool1"})
    err = await act.fails(pools.delete_agent_pool, system)
    assert err.type == "AgentPoolConflict" and err.non_retryable
    assert not emulator.requests(op="agentPools.delete")


async def test_delete_and_delete_again(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    await act.run(pools.ensure_agent_pool, plan)
    await act.run(pools.delete_agent_pool, plan)
    assert _nodes(emulator, plan.agent_pool) == []
    assert _statuses(emulator, "agentPools.delete") == [202]
    await act.run(pools.delete_agent_pool, plan)
    assert _statuses(emulator, "agentPools.delete") == [202], "404 on the read: nothing to delete"


@pytest.mark.parametrize("other", ["Deleting", "Scaling"])
async def test_delete_waits_out_another_operation(
    other: str,
    emulator: AzureEmulator,
    aks: ContainerServiceClient,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    temporal_env: WorkflowEnvironment,
) -> None:
    """Someone else's delete (then ours sends none) or scale (then ours deletes once it ends), whose poller
    we never await (a scale's final GET would find the pool deleted)."""
    await ActivityEnvironment().run(pools.ensure_agent_pool, plan)
    emulator.config.durations.pool_delete = emulator.config.durations.pool_scale = 0.6
    if other == "Deleting":
        await aks.agent_pools.begin_delete(RG, CLUSTER, plan.agent_pool)
    else:
        await aks.agent_pools.begin_create_or_update(
            RG, CLUSTER, plan.agent_pool, AgentPool(agent_pool_body(plan, count=3))
        )
    outcome = await _retried(temporal_env, pools, ActivityName.DELETE_AGENT_POOL, plan)
    assert _statuses(emulator, "agentPools.delete") == [202], "one delete: theirs, or ours after their scale"
    assert _nodes(emulator, plan.agent_pool) == []
    with pytest.raises(ResourceNotFoundError):
        await aks.agent_pools.get(RG, CLUSTER, plan.agent_pool)
    assert outcome.failures and all(f"is {other}" in failure for failure in outcome.failures)


async def test_lost_delete_response_converges(
    emulator: AzureEmulator,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    temporal_env: WorkflowEnvironment,
) -> None:
    await ActivityEnvironment().run(pools.ensure_agent_pool, plan)
    emulator.add_fault({"match": "agentPools.delete", "drop_count": 1, "drop_after": True})
    await _retried(temporal_env, pools, ActivityName.DELETE_AGENT_POOL, plan)
    assert _statuses(emulator, "agentPools.delete") == [-1, 409]
    assert _nodes(emulator, plan.agent_pool) == []


async def test_cancelled_mid_operation_then_retried_converges(
    emulator: AzureEmulator,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    temporal_env: WorkflowEnvironment,
) -> None:
    """A cancelled attempt (worker shutdown, heartbeat timeout) stops waiting; the operation goes on in
    Azure, and the retries wait for it instead of starting another."""
    emulator.config.durations.pool_create = 1.0
    heartbeats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: heartbeats.extend(details)
    attempt = asyncio.ensure_future(env.run(pools.ensure_agent_pool, plan))

    async def heartbeating() -> bool:
        return bool(heartbeats)

    await wait_for_async(heartbeating, "the first heartbeat during the create", timeout=5)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert [p.provisioning_state for p in emulator.agent_pools() if p.name == plan.agent_pool] == ["Creating"]

    state = _state(await _retried(temporal_env, pools, ActivityName.ENSURE_AGENT_POOL, plan))
    assert (state.provisioning_state, state.count) == ("Succeeded", plan.node_count)
    assert _statuses(emulator, "agentPools.put") == [201], "the retries waited for the first attempt's create"
