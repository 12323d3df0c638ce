"""What the GPU-node bridge will consume: pool events (listener, async iterator, HTTP long poll) and the
pool state query."""

from __future__ import annotations

import asyncio

from azure.mgmt.containerservice.aio import ContainerServiceClient

from localcloud.azure import AzureEmulator, PoolEvent
from tests.azure_emulator.helpers import CLUSTER, GPU_SIZE, RG, agent_pool, control
from tests.waiting import wait_for_async


async def test_listener_sees_succeeded_with_count_then_zero_then_deleted(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    events: list[PoolEvent] = []

    async def bridge(event: PoolEvent) -> None:
        events.append(event)

    unsubscribe = emulator.add_pool_listener(bridge)
    pool = agent_pool(
        2,
        node_labels={"kaito.sh/workspace": "ws"},
        node_taints=["sku=gpu:NoSchedule"],
        os_disk_size_gb=256,
    )
    created = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", pool)).result()
    created.count = 0
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", created)).result()
    await (await aks.agent_pools.begin_delete(RG, CLUSTER, "gpu")).result()

    async def six_events() -> bool:
        return len(events) == 6

    await wait_for_async(six_events, "six pool events")
    unsubscribe()

    assert [(e.kind, e.pool.provisioning_state, e.pool.node_count) for e in events] == [
        ("provisioning", "Creating", 2),
        ("succeeded", "Succeeded", 2),
        ("provisioning", "Scaling", 0),
        ("succeeded", "Succeeded", 0),
        ("provisioning", "Deleting", 0),
        ("deleted", "Deleted", 0),
    ]
    ready = events[1].pool
    assert (ready.cluster, ready.resource_group, ready.vm_size, ready.gpus_per_node) == (
        CLUSTER,
        RG,
        GPU_SIZE,
        1,
    )
    assert ready.node_labels == {"kaito.sh/workspace": "ws"} and ready.node_taints == ["sku=gpu:NoSchedule"]
    assert ready.os_disk_size_gb == 256
    assert [e.seq for e in events] == sorted(e.seq for e in events)


async def test_event_stream_and_http_long_poll(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    base, ca = emulator.base_url, str(emulator.ca_file)
    status, first = await control(base, ca, "GET", "/_emulator/events?after=0")
    assert status == 200 and first == {"events": [], "last": 0}
    waiting = asyncio.create_task(control(base, ca, "GET", "/_emulator/events?after=0&wait=20"))
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", agent_pool(1))).result()
    _, woken = await asyncio.wait_for(waiting, 20)
    assert woken["events"][0]["kind"] == "provisioning" and woken["events"][0]["pool"]["name"] == "gpu"

    seen: list[str] = []

    async def follow() -> None:
        async for event in emulator.pool_events(after=0):
            seen.append(event.kind)
            if len(seen) == 2:
                return

    await asyncio.wait_for(follow(), 10)
    assert seen == ["provisioning", "succeeded"]

    _, pools = await control(base, ca, "GET", "/_emulator/agentpools")
    by_name = {p["name"]: p for p in pools["value"]}
    assert by_name["gpu"]["node_count"] == 1 and by_name["nodepool1"]["mode"] == "System"
