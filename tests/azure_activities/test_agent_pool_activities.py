"""The agent-pool activities against the emulator through the real async SDK: ensure (create, no PUT when
already as desired), scale (to 0 and back; an absent pool is not created to be scaled to 0), delete (404
is done, a pool already Deleting is waited out), and convergence instead of duplication on 409s."""

from __future__ import annotations

import asyncio

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.containerservice.models import AgentPool
from temporalio.testing import ActivityEnvironment

from activities.agent_pools import AgentPoolActivities
from activities.workspace_objects import agent_pool_body
from localcloud.azure import AzureEmulator, PoolEvent
from tests.azure_activities.conftest import CLUSTER, RG, Activities
from tests.azure_emulator.helpers import snapshot
from tests.waiting import wait_for_async
from workflows.workspace_contracts import PoolScale, ProvisioningPlan


def _statuses(emulator: AzureEmulator, op: str) -> list[int]:
    return [e.status for e in emulator.requests(op=op)]


def _nodes(emulator: AzureEmulator, name: str) -> list[int]:
    return [p.node_count for p in emulator.agent_pools() if p.name == name]


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
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    """Two attempts racing (e.g. a worker presumed dead and its retry): one create, both succeed."""
    events: list[PoolEvent] = []
    emulator.add_pool_listener(events.append)
    first, second = await asyncio.gather(
        act.run(pools.ensure_agent_pool, plan), act.run(pools.ensure_agent_pool, plan)
    )
    assert first == second and first.provisioning_state == "Succeeded"
    puts = _statuses(emulator, "agentPools.put")
    assert puts.count(201) == 1 and set(puts) <= {201, 409}, "the loser waited for, or met, the winner's"
    assert [e.kind for e in events if e.pool.name == plan.agent_pool] == ["provisioning", "succeeded"]


async def test_ensure_waits_out_an_operation_already_running(
    emulator: AzureEmulator,
    aks: ContainerServiceClient,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    act: Activities,
) -> None:
    emulator.config.durations.pool_create = 0.6
    other = await aks.agent_pools.begin_create_or_update(
        RG, CLUSTER, plan.agent_pool, AgentPool(agent_pool_body(plan, count=2))
    )
    state = await act.run(pools.ensure_agent_pool, plan)  # the plan wants 1
    assert (state.provisioning_state, state.count) == ("Succeeded", plan.node_count)
    assert _statuses(emulator, "agentPools.put") == [201, 200], "waited, then scaled; never a 409"
    assert any("is Creating" in str(h) for h in act.heartbeats)
    await other.result()


async def test_lost_put_response_converges_without_a_second_operation(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    """The PUT took effect, its answer was lost, the SDK re-sent it and met its own operation (409)."""
    events: list[PoolEvent] = []
    emulator.add_pool_listener(events.append)
    emulator.add_fault({"match": "agentPools.put", "drop_count": 1, "drop_after": True})
    state = await act.run(pools.ensure_agent_pool, plan)
    assert (state.provisioning_state, state.count) == ("Succeeded", plan.node_count)
    assert _statuses(emulator, "agentPools.put") == [-1, 409]
    assert [e.kind for e in events] == ["provisioning", "succeeded"], "exactly one operation"


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


async def test_delete_waits_out_a_pool_already_deleting(
    emulator: AzureEmulator,
    aks: ContainerServiceClient,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    act: Activities,
) -> None:
    await act.run(pools.ensure_agent_pool, plan)
    emulator.config.durations.pool_delete = 0.6
    poller = await aks.agent_pools.begin_delete(RG, CLUSTER, plan.agent_pool)
    await act.run(pools.delete_agent_pool, plan)
    assert _statuses(emulator, "agentPools.delete") == [202], "ours sent none: it waited for that one"
    assert any("is Deleting" in str(h) for h in act.heartbeats)
    try:
        await aks.agent_pools.get(RG, CLUSTER, plan.agent_pool)
        raise AssertionError("the pool should be gone")
    except ResourceNotFoundError:
        pass
    await poller.result()


async def test_delete_waits_out_a_scale_then_deletes(
    emulator: AzureEmulator,
    aks: ContainerServiceClient,
    pools: AgentPoolActivities,
    plan: ProvisioningPlan,
    act: Activities,
) -> None:
    await act.run(pools.ensure_agent_pool, plan)
    emulator.config.durations.pool_scale = 0.6
    # someone else's scale, whose poller we never await (its final GET would find the pool deleted)
    await aks.agent_pools.begin_create_or_update(
        RG, CLUSTER, plan.agent_pool, AgentPool(agent_pool_body(plan, count=3))
    )
    await act.run(pools.delete_agent_pool, plan)
    assert _statuses(emulator, "agentPools.delete") == [202]
    assert _nodes(emulator, plan.agent_pool) == []
    assert any("is Scaling" in str(h) for h in act.heartbeats)


async def test_lost_delete_response_converges(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan, act: Activities
) -> None:
    await act.run(pools.ensure_agent_pool, plan)
    emulator.add_fault({"match": "agentPools.delete", "drop_count": 1, "drop_after": True})
    await act.run(pools.delete_agent_pool, plan)
    assert _statuses(emulator, "agentPools.delete") == [-1, 409]
    assert _nodes(emulator, plan.agent_pool) == []


async def test_cancelled_mid_operation_then_retried_converges(
    emulator: AzureEmulator, pools: AgentPoolActivities, plan: ProvisioningPlan
) -> None:
    """A cancelled attempt (worker shutdown, heartbeat timeout) stops waiting; the operation goes on in
    Azure, and the next attempt waits for it instead of starting another."""
    emulator.config.durations.pool_create = 1.0
    heartbeats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: heartbeats.extend(details)
    attempt = asyncio.ensure_future(env.run(pools.ensure_agent_pool, plan))

    async def beating() -> bool:
        return bool(heartbeats)

    await wait_for_async(beating, "the first heartbeat during the create", timeout=5)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert [p.provisioning_state for p in emulator.agent_pools() if p.name == plan.agent_pool] == ["Creating"]

    state = await ActivityEnvironment().run(pools.ensure_agent_pool, plan)
    assert (state.provisioning_state, state.count) == ("Succeeded", plan.node_count)
    assert _statuses(emulator, "agentPools.put") == [201], "the retry waited for the first attempt's create"
