"""Requests real ARM refuses get ARM's status code and error code, through the real SDK, and change no
state (the persisted state is byte-for-byte the same afterwards)."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.containerservice import models
from azure.mgmt.containerservice.aio import ContainerServiceClient

from localcloud.azure import ARM_SCOPE, AzureEmulator
from tests.azure_emulator.helpers import CLUSTER, GPU_SIZE, RG, snapshot


def _pool(**fields: Any) -> models.AgentPool:
    base: dict[str, Any] = {"vm_size": GPU_SIZE, "count": 1, "mode": "User"}
    base.update(fields)
    return models.AgentPool(**{k: v for k, v in base.items() if v is not None})


NEW_POOL_CASES = [
    pytest.param("GPU1", _pool(), 400, "InvalidParameter", id="uppercase-name"),
    pytest.param("1gpu", _pool(), 400, "InvalidParameter", id="name-starts-with-digit"),
    pytest.param("gpu-a100", _pool(), 400, "InvalidParameter", id="name-with-hyphen"),
    pytest.param("abcdefghijklm", _pool(), 400, "InvalidParameter", id="name-13-chars"),
    pytest.param("wingpu1", _pool(os_type="Windows"), 400, "InvalidParameter", id="windows-name-7-chars"),
    pytest.param(
        "gpu", _pool(vm_size="Standard_NC999_Imaginary_v9"), 400, "BadRequest", id="unknown-vm-size"
    ),
    pytest.param("gpu", _pool(vm_size=None), 400, "InvalidParameter", id="missing-vm-size"),
    pytest.param("gpu", models.AgentPool(), 400, "InvalidRequestContent", id="missing-properties"),
    pytest.param("gpu", _pool(count=-1), 400, "InvalidParameter", id="negative-count"),
    pytest.param("gpu", _pool(count=1001), 400, "InvalidParameter", id="count-above-1000"),
    pytest.param("sys2", _pool(mode="System", count=0), 400, "InvalidParameter", id="system-pool-count-0"),
    pytest.param("gpu", _pool(mode="Bogus"), 400, "InvalidParameter", id="unknown-mode"),
    pytest.param("gpu", _pool(os_type="Plan9"), 400, "InvalidParameter", id="unknown-os-type"),
    pytest.param("gpu", _pool(node_taints=["no effect here"]), 400, "InvalidParameter", id="malformed-taint"),
    pytest.param(
        "gpu",
        _pool(node_labels={"kubernetes.azure.com/mode": "x"}),
        400,
        "InvalidParameter",
        id="reserved-label",
    ),
    pytest.param("gpu", _pool(os_disk_size_gb=10), 400, "InvalidParameter", id="os-disk-too-small"),
    pytest.param(
        "gpu",
        _pool(power_state=models.PowerState(code="Stopped")),
        400,
        "InvalidParameter",
        id="create-stopped",
    ),
    pytest.param(
        "gpu", _pool(enable_auto_scaling=True), 400, "InvalidParameter", id="autoscale-without-bounds"
    ),
]


@pytest.mark.parametrize(("name", "pool", "status", "code"), NEW_POOL_CASES)
async def test_new_pool_refused(
    emulator: AzureEmulator,
    aks: ContainerServiceClient,
    name: str,
    pool: models.AgentPool,
    status: int,
    code: str,
) -> None:
    before = snapshot(emulator)
    with pytest.raises(HttpResponseError) as err:
        await aks.agent_pools.begin_create_or_update(RG, CLUSTER, name, pool)
    assert err.value.status_code == status
    assert err.value.error is not None and err.value.error.code == code, err.value.message
    assert snapshot(emulator) == before
    assert not emulator.cloud.state.operations


async def test_changes_to_existing_pools_refused(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    gpu = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", _pool(count=1))).result()
    system = await aks.agent_pools.get(RG, CLUSTER, "nodepool1")
    before = snapshot(emulator)

    async def refused(name: str, pool: models.AgentPool) -> str:
        with pytest.raises(HttpResponseError) as err:
            await aks.agent_pools.begin_create_or_update(RG, CLUSTER, name, pool)
        assert err.value.status_code == 400 and err.value.error is not None
        return str(err.value.error.code)

    system.count = 0
    assert await refused("nodepool1", system) == "InvalidParameter"
    system.count, system.mode = 1, "User"
    assert await refused("nodepool1", system) == "BadRequest"  # would leave no System pool
    system.mode, system.power_state = "System", models.PowerState(code="Stopped")
    assert await refused("nodepool1", system) == "InvalidParameter"
    gpu.vm_size = "Standard_NC48ads_A100_v4"
    assert await refused("gpu", gpu) == "PropertyChangeNotAllowed"

    with pytest.raises(HttpResponseError) as err:
        await aks.agent_pools.begin_delete(RG, CLUSTER, "nodepool1")
    assert (err.value.status_code, err.value.error and err.value.error.code) == (400, "OperationNotAllowed")
    assert snapshot(emulator) == before


async def test_missing_parents_are_404(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    before = snapshot(emulator)
    with pytest.raises(HttpResponseError) as err:
        await aks.agent_pools.begin_create_or_update(RG, "no-such-cluster", "gpu", _pool())
    assert (err.value.status_code, err.value.error and err.value.error.code) == (404, "ResourceNotFound")
    with pytest.raises(HttpResponseError) as err:
        await aks.agent_pools.begin_create_or_update("no-such-rg", CLUSTER, "gpu", _pool())
    assert (err.value.status_code, err.value.error and err.value.error.code) == (404, "ResourceGroupNotFound")
    assert snapshot(emulator) == before


async def test_malformed_requests_the_sdk_cannot_send(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential
) -> None:
    """Raw HTTP, because the SDK's models make these bodies impossible: the answers are still ARM's."""
    token = (await operator_credential.get_token(ARM_SCOPE)).token
    sub = emulator.config.subscription_id
    pool_url = (
        f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.ContainerService/managedClusters/"
        f"{CLUSTER}/agentPools/gpu"
    )
    uami_url = f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/"
    uami_url += "userAssignedIdentities/x1"
    ctx = ssl.create_default_context(cafile=str(emulator.ca_file))
    before = snapshot(emulator)
    cases = [
        (pool_url + "?api-version=2026-08-01", "{not json", 400, "InvalidRequestContent"),
        (
            pool_url + "?api-version=2026-08-01",
            '{"properties": {"vmSize": "Standard_D2s_v5", "count": "two"}}',
            400,
            "InvalidRequestContent",
        ),
        (pool_url, '{"properties": {"vmSize": "Standard_D2s_v5"}}', 400, "MissingApiVersionParameter"),
        (uami_url + "?api-version=2024-11-30", "{}", 400, "LocationRequired"),
        (uami_url + "?api-version=2024-11-30", "", 400, "InvalidRequestContent"),
    ]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        for path, body, status, code in cases:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            async with session.put(emulator.base_url + path, data=body, headers=headers) as resp:
                payload = await resp.json()
                got = payload["error"]["code"] if "error" in payload else payload["code"]
                assert (resp.status, got) == (status, code), path
                assert "Retry-After" not in resp.headers, "azure-core would retry any error with Retry-After"
    assert snapshot(emulator) == before
