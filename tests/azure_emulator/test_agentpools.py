"""Agent pools through the real async ContainerServiceClient: ARM's async protocol, AKS's provisioning
states, count changes including 0, powerState, concurrent-mutation 409 and quota."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.pipeline import PipelineResponse
from azure.mgmt.containerservice import models
from azure.mgmt.containerservice.aio import ContainerServiceClient

from localcloud.azure import AzureEmulator
from tests.azure_emulator.helpers import CLUSTER, GPU_SIZE, RG, agent_pool, snapshot
from tests.waiting import wait_for_async


def gpu_pool(count: int = 1, **extra: Any) -> models.AgentPool:
    return agent_pool(
        vm_size=GPU_SIZE,
        count=count,
        mode="User",
        os_type="Linux",
        os_disk_size_gb=256,
        node_labels={"kaito.sh/workspace": "falcon-7b", "kaito.sh/workspacenamespace": "default"},
        node_taints=["sku=gpu:NoSchedule"],
        **extra,
    )


async def test_create_is_an_async_operation_that_ends_succeeded(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    emulator.config.durations.pool_create = 1.0
    seen: list[PipelineResponse[Any, Any]] = []
    poller = await aks.agent_pools.begin_create_or_update(
        RG, CLUSTER, "gpua100", gpu_pool(2), raw_response_hook=seen.append
    )
    initial = seen[0].http_response
    assert initial.status_code == 201
    op_url = initial.headers["Azure-AsyncOperation"]
    assert op_url.startswith(
        emulator.base_url + f"/subscriptions/{emulator.config.subscription_id}/providers/"
        "Microsoft.ContainerService/locations/eastus/operations/"
    )
    during = await aks.agent_pools.get(RG, CLUSTER, "gpua100")
    assert during.provisioning_state == "Creating"

    pool = await poller.result()
    assert (pool.provisioning_state, pool.count, pool.power_state.code) == ("Succeeded", 2, "Running")
    assert pool.node_taints == ["sku=gpu:NoSchedule"]
    assert pool.node_labels["kaito.sh/workspace"] == "falcon-7b"
    polls = emulator.requests(op="operations.get")
    assert len(polls) >= 2, "the SDK polled the operation until it left InProgress"
    final_gets = emulator.requests(op="agentPools.get")
    assert final_gets[-1].seq > polls[-1].seq, "the SDK made the final GET after Succeeded"


async def test_scale_to_zero_and_back_up(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    emulator.config.durations.pool_scale = 1.0
    pool = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(1))).result()
    pool.count = 0
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", pool)
    assert (await aks.agent_pools.get(RG, CLUSTER, "gpu")).provisioning_state == "Scaling"
    scaled = await poller.result()
    assert (scaled.count, scaled.provisioning_state) == (0, "Succeeded")
    scaled.count = 3
    up = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", scaled)).result()
    assert (up.count, up.provisioning_state) == (3, "Succeeded")


async def test_stop_and_start_change_power_state(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    emulator.config.durations.pool_update = 1.0
    pool = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(2))).result()
    pool.power_state = models.PowerState(code="Stopped")
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", pool)
    during = await aks.agent_pools.get(RG, CLUSTER, "gpu")
    assert (during.provisioning_state, during.power_state.code) == ("Stopping", "Running")
    stopped = await poller.result()
    assert (stopped.power_state.code, stopped.count) == ("Stopped", 2)
    assert [p.node_count for p in emulator.agent_pools() if p.name == "gpu"] == [0]
    stopped.power_state = models.PowerState(code="Running")
    started = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", stopped)).result()
    assert started.power_state.code == "Running"
    assert [p.node_count for p in emulator.agent_pools() if p.name == "gpu"] == [2]


async def test_list_then_delete(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    emulator.config.durations.pool_delete = 1.0
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(1))).result()
    names = sorted([p.name or "" async for p in aks.agent_pools.list(RG, CLUSTER)])
    assert names == ["gpu", "nodepool1"]

    seen: list[PipelineResponse[Any, Any]] = []
    poller = await aks.agent_pools.begin_delete(RG, CLUSTER, "gpu", raw_response_hook=seen.append)
    assert seen[0].http_response.status_code == 202
    assert "Location" in seen[0].http_response.headers
    assert (await aks.agent_pools.get(RG, CLUSTER, "gpu")).provisioning_state == "Deleting"
    await poller.result()  # a delete has no final GET and no result
    with pytest.raises(ResourceNotFoundError) as err:
        await aks.agent_pools.get(RG, CLUSTER, "gpu")
    assert err.value.error is not None and err.value.error.code == "ResourceNotFound"

    seen.clear()
    await (await aks.agent_pools.begin_delete(RG, CLUSTER, "gpu", raw_response_hook=seen.append)).result()
    assert seen[0].http_response.status_code == 204, "deleting a pool that is gone is a no-op 204"


async def test_concurrent_mutation_is_refused_with_409(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    emulator.config.durations.pool_create = 1.0
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(1))
    with pytest.raises(ResourceExistsError) as err:
        await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(4))
    assert err.value.status_code == 409 and err.value.error is not None
    assert err.value.error.code == "OperationNotAllowed"
    assert "Another agentpool operation (gpu - Creating) is in progress" in str(err.value.error.message)
    with pytest.raises(ResourceExistsError):
        await aks.agent_pools.begin_delete(RG, CLUSTER, "gpu")
    pool = await poller.result()
    assert (pool.count, pool.provisioning_state) == (1, "Succeeded")
    # a different pool is independent, as AKS runs operations on different pools in parallel
    other = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "other", gpu_pool(1))
    await other.result()


async def test_gpu_family_quota(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    emulator.config.family_quotas["standardNCADSA100v4Family"] = 48  # two NC24ads_A100_v4
    before = snapshot(emulator)
    with pytest.raises(HttpResponseError) as err:
        await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "big", gpu_pool(3))
    assert err.value.status_code == 400 and err.value.error is not None
    assert err.value.error.code == "QuotaExceeded"
    assert "standardNCADSA100v4Family Cores quota" in str(err.value.error.message)
    assert "Current Limit: 48, Current Usage: 0, Additional Required: 72" in str(err.value.error.message)
    assert snapshot(emulator) == before

    first = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "first", gpu_pool(2))).result()
    with pytest.raises(HttpResponseError) as err:
        await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "second", gpu_pool(1))
    assert err.value.error is not None and err.value.error.code == "QuotaExceeded"
    first.count = 0  # scaling to zero frees the cores
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "first", first)).result()
    second = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "second", gpu_pool(2))).result()
    assert second.provisioning_state == "Succeeded"


async def test_retry_after_protocol_is_honoured(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    """The default protocol: Retry-After >= 1 on the PUT and while InProgress, none when terminal."""
    emulator.config.send_retry_after = True
    emulator.config.poll_hint_ms = None
    emulator.config.durations.pool_create = 0.3
    seen: list[tuple[int, dict[str, str]]] = []

    def record(response: PipelineResponse[Any, Any]) -> None:
        seen.append((response.http_response.status_code, dict(response.http_response.headers)))

    started = time.monotonic()
    poller = await aks.agent_pools.begin_create_or_update(
        RG, CLUSTER, "gpu", gpu_pool(1), raw_response_hook=record
    )
    assert int(seen[0][1]["Retry-After"]) >= 1
    pool = await poller.result()
    assert pool.provisioning_state == "Succeeded"
    assert time.monotonic() - started >= 1.0, "the SDK slept Retry-After between polls"
    statuses = [e.status for e in emulator.requests(op="operations.get")]
    assert statuses == [200, 200]


async def test_operation_status_body_shape(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    emulator.config.durations.pool_create = 1.0
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(1))
    op_id = next(iter(emulator.cloud.state.operations))
    running = emulator.cloud.ops.get(op_id)
    assert running is not None and running.status_body()["status"] == "InProgress"
    await poller.result()
    done = emulator.cloud.ops.get(op_id)
    assert done is not None
    body = done.status_body()
    assert set(body) == {"name", "status", "startTime", "endTime"} and body["status"] == "Succeeded"


async def test_wait_for_condition_helper_sees_transitions(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    emulator.config.durations.pool_create = 0.3
    await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(1))

    async def succeeded() -> bool:
        return bool((await aks.agent_pools.get(RG, CLUSTER, "gpu")).provisioning_state == "Succeeded")

    await wait_for_async(succeeded, "the pool to reach Succeeded without the poller", timeout=5)
