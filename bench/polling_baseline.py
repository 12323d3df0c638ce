"""The polling baseline bench/calls.py compares against: how gpu-provisioner and the older KAITO controllers
wait for GPU nodes. Benchmark code only; nothing in the product runs it.

One workflow, two activities: create the agent pool (the same real SDK call, the same long-running
operation), then one activity that holds its worker slot through the whole GPU wait, reading the agent
pool from ARM and listing the pool's nodes from the apiserver every `period` seconds until they are Ready.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from azure.mgmt.containerservice import models
from azure.mgmt.containerservice.aio import ContainerServiceClient
from kubernetes.client import ApiClient, CoreV1Api
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from localcloud.azure import AzureEmulatorProcess
from workflows.naming import GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE, LABEL_AGENT_POOL

TASK_QUEUE = "bench-polling-baseline"
RG, CLUSTER = "kaito-rg", "kaito-aks"


@dataclass
class PollingRequest:
    pool: str
    vm_size: str
    period_seconds: float


class PollingActivities:
    def __init__(self, azure: AzureEmulatorProcess, kube: ApiClient, subscription_id: str) -> None:
        self._azure = azure
        self._core = CoreV1Api(kube)
        self._subscription = subscription_id
        self.polls = 0

    def _client(self, cred: Any) -> ContainerServiceClient:
        return ContainerServiceClient(cred, self._subscription, **self._azure.client_kwargs())

    @activity.defn(name="baseline_create_pool")
    async def create_pool(self, request: PollingRequest) -> None:
        taint = f"{GPU_TAINT_KEY}={GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}"
        pool = models.AgentPool(vm_size=request.vm_size, count=1, mode="User", node_taints=[taint])  # type: ignore[call-overload]
        async with self._azure.operator_credential() as cred, self._client(cred) as aks:
            await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, request.pool, pool)).result()

    @activity.defn(name="baseline_poll_until_nodes_ready")
    async def poll_until_ready(self, request: PollingRequest) -> int:
        """Holds its slot for the whole wait: GET the pool and list its nodes every period."""
        async with self._azure.operator_credential() as cred, self._client(cred) as aks:
            while True:
                self.polls += 1
                pool = await aks.agent_pools.get(RG, CLUSTER, request.pool)
                nodes = await asyncio.to_thread(
                    self._core.list_node, label_selector=f"{LABEL_AGENT_POOL}={request.pool}"
                )
                ready = sum(
                    1
                    for n in nodes.items
                    if any(
                        c.type == "Ready" and c.status == "True"
                        for c in ((n.status.conditions if n.status else None) or [])
                    )
                )
                activity.heartbeat(ready)
                if pool.provisioning_state == "Succeeded" and ready >= (pool.count or 0):
                    return ready
                await asyncio.sleep(request.period_seconds)  # the baseline's polling period


@workflow.defn(name="PollingProvisioning", sandboxed=False)
class PollingProvisioning:
    @workflow.run
    async def run(self, request: PollingRequest) -> int:
        await workflow.execute_activity(
            "baseline_create_pool", request, start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )  # fmt: skip
        ready: int = await workflow.execute_activity(
            "baseline_poll_until_nodes_ready", request, start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=1), result_type=int,
        )  # fmt: skip
        return ready
