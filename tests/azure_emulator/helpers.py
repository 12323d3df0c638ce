"""Shared test helpers: request bodies, the control API, state snapshots, resource ids."""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
from azure.mgmt.containerservice import models

from localcloud.azure import AzureEmulator

RG = "kaito-rg"
CLUSTER = "kaito-aks"
GPU_SIZE = "Standard_NC24ads_A100_v4"


def agent_pool(count: int = 1, vm_size: str | None = GPU_SIZE, **fields: Any) -> models.AgentPool:
    """An AgentPool body (flattened fields, as callers write them; None leaves a field out)."""
    values: dict[str, Any] = {"vm_size": vm_size, "count": count, "mode": "User", **fields}
    return models.AgentPool(**{k: v for k, v in values.items() if v is not None})


def snapshot(emulator: AzureEmulator) -> str:
    """The persisted state as text, to prove a refused request changed nothing."""
    return json.dumps(emulator.store.state.model_dump(mode="json"), sort_keys=True)


async def control(base_url: str, ca_file: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Raw HTTP to `/_emulator/...` (there is no SDK for the control API)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session,
        session.request(method, base_url + path, json=body) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def cluster_scope(emulator: AzureEmulator) -> str:
    sub = emulator.config.subscription_id
    return (
        f"/subscriptions/{sub}/resourceGroups/{RG}"
        f"/providers/Microsoft.ContainerService/managedClusters/{CLUSTER}"
    )


def pool_key(emulator: AzureEmulator, name: str) -> str:
    cfg = emulator.config
    return (
        f"/subscriptions/{cfg.subscription_id}/resourcegroups/{RG}/providers/microsoft.containerservice"
        f"/managedclusters/{CLUSTER}/agentpools/{name}"
    ).lower()
