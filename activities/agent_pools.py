"""AKS agent-pool activities: ensure (create or scale), read and delete the workspace's GPU pool.

They converge rather than repeat: a retried ensure finds the pool by its derived name, waits out an
operation already in progress, and PUTs only when the pool differs from the plan. NotFound on delete
is the desired state.
"""

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.containerservice.models import AgentPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.azure_errors import classify
from activities.config import ActivityConfig
from activities.manifests import agent_pool_body
from workflows.contracts import ActivityName, AgentPoolState, ProvisioningPlan

T = TypeVar("T")
BUSY_STATES = frozenset({"Creating", "Updating", "Scaling", "Upgrading", "Deleting", "Starting", "Stopping"})
HEARTBEAT_EVERY = 10.0


async def with_heartbeats(work: Awaitable[T], detail: str) -> T:
    """Await a long Azure operation while heartbeating, so a dead worker is noticed within minutes."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
        if done:
            return task.result()
        activity.heartbeat(detail)


def pool_state(pool: AgentPool) -> AgentPoolState:
    props: Any = pool.properties
    return AgentPoolState(
        name=str(pool.name),
        provisioning_state=str(props.provisioning_state or "Unknown"),
        count=int(props.count or 0),
        vm_size=str(props.vm_size),
    )


class AgentPoolActivities:
    def __init__(self, config: ActivityConfig, client: ContainerServiceClient) -> None:
        self._cluster = config.cluster
        self._client = client

    async def _get(self, name: str) -> AgentPool | None:
        try:
            return await self._client.agent_pools.get(
                self._cluster.resource_group, self._cluster.cluster_name, name
            )
        except ResourceNotFoundError:
            return None
        except HttpResponseError as err:
            raise classify(err, f"read agent pool {name}") from None

    async def _settled(self, name: str) -> AgentPool | None:
        """The pool once no operation runs on it (a PUT now would get 409 OperationNotAllowed)."""
        while True:
            pool = await self._get(name)
            if (
                pool is None
                or pool.properties is None
                or pool.properties.provisioning_state not in BUSY_STATES
            ):
                return pool
            activity.heartbeat(f"{name} is {pool.properties.provisioning_state}")
            await asyncio.sleep(HEARTBEAT_EVERY)

    async def ensure_count(self, plan: ProvisioningPlan, count: int) -> AgentPoolState:
        """Make the pool exist with `count` nodes of the planned size; no PUT when it already does."""
        existing = await self._settled(plan.agent_pool)
        if existing is not None and existing.properties is not None:
            props = existing.properties
            if str(props.vm_size).lower() != plan.instance_type.lower():
                raise ApplicationError(
                    f"agent pool {plan.agent_pool} exists with vmSize {props.vm_size}, "
                    f"not {plan.instance_type}; "
                    "delete the workspace and create it again to change the VM size",
                    type="AgentPoolConflict",
                    non_retryable=True,
                )
            if props.provisioning_state == "Succeeded" and props.count == count:
                return pool_state(existing)
        body = AgentPool(agent_pool_body(plan, count=count))
        doing = f"put agent pool {plan.agent_pool} ({count} × {plan.instance_type})"
        try:
            poller = await self._client.agent_pools.begin_create_or_update(
                self._cluster.resource_group, self._cluster.cluster_name, plan.agent_pool, body
            )
            pool = await with_heartbeats(poller.result(), doing)
        except HttpResponseError as err:
            raise classify(err, doing) from None
        state = pool_state(pool)
        if state.provisioning_state != "Succeeded":
            raise ApplicationError(f"{doing}: ended {state.provisioning_state}", type="AgentPoolFailed")
        return state

    @activity.defn(name=ActivityName.ENSURE_AGENT_POOL)
    async def ensure_agent_pool(self, plan: ProvisioningPlan) -> AgentPoolState:
        return await self.ensure_count(plan, plan.node_count)

    @activity.defn(name=ActivityName.DELETE_AGENT_POOL)
    async def delete_agent_pool(self, plan: ProvisioningPlan) -> None:
        if await self._settled(plan.agent_pool) is None:
            return
        doing = f"delete agent pool {plan.agent_pool}"
        try:
            poller = await self._client.agent_pools.begin_delete(
                self._cluster.resource_group, self._cluster.cluster_name, plan.agent_pool
            )
            await with_heartbeats(poller.result(), doing)
        except ResourceNotFoundError:
            return
        except HttpResponseError as err:
            raise classify(err, doing) from None
