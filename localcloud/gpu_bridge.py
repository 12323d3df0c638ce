"""The GPU-node bridge: what AKS does between an agent pool PUT and GPU nodes joining the cluster.

It follows the Azure emulator's pool events. When a pool reaches Succeeded with N nodes it waits the
boot delay (seconds in tests, minutes in realistic mode) and registers N Nodes named and labelled as
AKS names them, with `nvidia.com/gpu` capacity; kwok then keeps them Ready. Scale-down and delete
remove nodes at once. Events are numbered, so the bridge resumes where it left off.
"""

import asyncio
import contextlib
import hashlib
import logging
import ssl
from typing import Any

import aiohttp
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from localcloud.azure.events import PoolEvent, PoolSnapshot
from localcloud.azure.vmsizes import find_size
from workflows.naming import GPU_RESOURCE, LABEL_AGENT_POOL, LABEL_INSTANCE_TYPE

log = logging.getLogger("kaito.bridge")
KWOK_ANNOTATION = {"kwok.x-k8s.io/node": "fake"}


def vmss_number(pool: PoolSnapshot) -> str:
    """The 8 digits AKS puts in node names, stable per pool (`aks-<pool>-<digits>-vmss000000`)."""
    return str(int(hashlib.sha256(pool.id.lower().encode()).hexdigest(), 16) % 10**8).zfill(8)


def node_name(pool: PoolSnapshot, index: int) -> str:
    return f"aks-{pool.name}-{vmss_number(pool)}-vmss{index:06d}"


def node_resource_group(pool: PoolSnapshot, location: str) -> str:
    return f"MC_{pool.resource_group}_{pool.cluster}_{location}"


def _taint(text: str) -> dict[str, str]:
    key_value, _, effect = text.partition(":")
    key, _, value = key_value.partition("=")
    return {"key": key, "value": value, "effect": effect or "NoSchedule"}


def node_manifest(pool: PoolSnapshot, index: int, location: str) -> dict[str, Any]:
    """A Node as AKS registers it for an agent pool VM, with GPU capacity from the VM size."""
    name = node_name(pool, index)
    size = find_size(pool.vm_size)
    cpus, memory_gib = (size.vcpus, size.memory_gib) if size else (4, 16)
    capacity = {
        "cpu": str(cpus),
        "memory": f"{memory_gib}Gi",
        "pods": "110",
        "ephemeral-storage": f"{pool.os_disk_size_gb or 128}Gi",
    }
    if pool.gpus_per_node:
        capacity[GPU_RESOURCE] = str(pool.gpus_per_node)
    mc_group = node_resource_group(pool, location)
    labels = {
        **pool.node_labels,
        LABEL_AGENT_POOL: pool.name,
        "agentpool": pool.name,
        LABEL_INSTANCE_TYPE: pool.vm_size,
        "beta.kubernetes.io/instance-type": pool.vm_size,
        "kubernetes.azure.com/cluster": mc_group,
        "kubernetes.azure.com/mode": pool.mode.lower(),
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/region": location,
    }
    if pool.gpus_per_node:
        labels["accelerator"] = "nvidia"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": dict(KWOK_ANNOTATION)},
        "spec": {
            "providerID": (
                f"azure:///subscriptions/{pool.subscription_id}/resourceGroups/{mc_group.lower()}/providers/"
                f"Microsoft.Compute/virtualMachineScaleSets/aks-{pool.name}-{vmss_number(pool)}-vmss/"
                f"virtualMachines/{index}"
            ),
            "taints": [_taint(t) for t in pool.node_taints],
        },
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


class GpuNodeBridge:
    """Follows `GET /_emulator/events` and keeps each pool's Nodes equal to its settled node count."""

    def __init__(
        self, emulator_url: str, ca_file: str, api: ApiClient, *, boot_delay: float, location: str = "eastus"
    ) -> None:
        self._events_url = emulator_url.rstrip("/") + "/_emulator/events"
        self._ssl = ssl.create_default_context(cafile=ca_file)
        self._core = CoreV1Api(api)
        self.boot_delay = boot_delay
        self._location = location
        self._booting: dict[str, asyncio.Task[None]] = {}
        self._released = asyncio.Event()
        self.last_seq = 0

    def release(self) -> None:
        """End every boot delay now, and skip it for pools that succeed later: the VMs are up. A
        benchmark holds a fleet in the GPU wait with a long delay and lets it go at once with this."""
        self._released.set()

    async def run(self) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl)) as session:
            while True:
                try:
                    async with session.get(
                        self._events_url, params={"after": self.last_seq, "wait": 20}
                    ) as resp:
                        resp.raise_for_status()
                        data = await resp.json()
                except (aiohttp.ClientError, TimeoutError) as err:
                    log.warning("emulator events unavailable (%s); retrying", err)
                    await asyncio.sleep(1)
                    continue
                for raw in data["events"]:
                    event = PoolEvent.model_validate(raw)
                    await self.handle(event)
                    self.last_seq = event.seq  # after: an event the apiserver missed is handled again

    async def handle(self, event: PoolEvent) -> None:
        pool = event.pool
        pending = self._booting.pop(pool.id, None)
        if pending:
            pending.cancel()
        if event.kind == "deleted":
            await self._converge(pool, 0)
        elif event.kind == "succeeded":
            existing = await self._existing(pool)
            if pool.node_count <= len(existing):
                await self._converge(pool, pool.node_count)
            else:
                self._booting[pool.id] = asyncio.create_task(self._boot(pool))

    async def _boot(self, pool: PoolSnapshot) -> None:
        with contextlib.suppress(TimeoutError):  # the VMs boot and join; this is the emulated hardware
            await asyncio.wait_for(self._released.wait(), self.boot_delay)
        while True:  # a kubelet keeps trying to register while the apiserver is away
            try:
                await self._converge(pool, pool.node_count)
                break
            except Exception as err:
                log.warning("registering the nodes of %s failed (%s); retrying", pool.name, err)
                await asyncio.sleep(1)
        self._booting.pop(pool.id, None)

    async def _existing(self, pool: PoolSnapshot) -> list[str]:
        nodes = await asyncio.to_thread(
            self._core.list_node, label_selector=f"{LABEL_AGENT_POOL}={pool.name}"
        )
        return [str(n.metadata.name) for n in nodes.items if n.metadata]

    async def _converge(self, pool: PoolSnapshot, count: int) -> None:
        existing = set(await self._existing(pool))
        wanted = {node_name(pool, i): i for i in range(count)}
        for name in sorted(existing - set(wanted)):
            with contextlib.suppress(ApiException):
                await asyncio.to_thread(self._core.delete_node, name)
            log.info("node %s removed (pool %s at %d)", name, pool.name, count)
        for name, index in sorted(wanted.items()):
            if name in existing:
                continue
            try:
                body: Any = node_manifest(pool, index, self._location)
                await asyncio.to_thread(self._core.create_node, body)
            except ApiException as err:
                if err.status != 409:
                    raise
            log.info("node %s registered (%s, %d GPU)", name, pool.vm_size, pool.gpus_per_node)

    async def stop(self) -> None:
        for task in self._booting.values():
            task.cancel()
        await asyncio.gather(*self._booting.values(), return_exceptions=True)
        self._booting.clear()
