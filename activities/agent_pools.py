"""AKS agent-pool activities: ensure (create or scale to the plan), scale to a count, delete.

They converge rather than repeat, so that a retried or re-run activity never makes a second pool or a
second operation. Each attempt reads the pool first:

* an operation already running on it (someone else's, or ours from an attempt whose worker died) fails
  the attempt retryably (`activities.azure_errors.busy`); Temporal runs the next attempt after
  `Waits.busy_retry`, and that attempt reads the pool again — an operation is never raced;
* a pool already as desired gets no PUT at all;
* a 409 OperationNotAllowed — another operation started between our GET and our PUT, or the SDK re-sent
  a PUT whose answer was lost and met the operation that PUT itself started — is "busy" too: the next
  attempt reads the pool again and PUTs only if it still differs;
* delete treats 404 (and a pool whose Deleting has ended by the next attempt) as done;
* a pool of another workspace, of another VM size, or the cluster's System pool is refused, final.

Our own operation is awaited inside the attempt, heartbeating (`activities.azure_waits.await_operation`).
Failures leave as `ApplicationError`s typed with ARM's code (see `activities.azure_errors`).
"""

from enum import Enum
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.containerservice.models import AgentPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.azure_errors import AZURE_FAILURES, busy, classify
from activities.azure_waits import Waits, await_operation
from activities.config import ActivityConfig
from activities.workspace_objects import agent_pool_body
from workflows.workspace_contracts import ActivityName, AgentPoolState, PoolScale, ProvisioningPlan

# provisioningState values while an operation runs (a PUT or DELETE now would get 409).
BUSY_STATES = frozenset(
    {"Creating", "Updating", "Scaling", "Upgrading", "Deleting", "Starting", "Stopping", "Canceling"}
)
OWNER_TAG = "kaito.sh/workspace"
ABSENT = "NotFound"  # AgentPoolState.provisioning_state of a pool that does not exist


def _props(pool: AgentPool) -> Any:
    return pool.properties


def text(value: Any, default: str = "") -> str:
    """An SDK field as ARM's string: the SDK's str-enums print as `Code.RUNNING`, their value is `Running`."""
    if value is None:
        return default
    return str(value.value) if isinstance(value, Enum) else str(value)


def pool_state(pool: AgentPool) -> AgentPoolState:
    props = _props(pool)
    return AgentPoolState(
        name=str(pool.name),
        provisioning_state=text(props.provisioning_state, "Unknown"),
        count=int(props.count or 0),
        vm_size=text(props.vm_size),
    )


def _power(pool: AgentPool) -> str:
    power = _props(pool).power_state
    return text(power.code if power is not None else None, "Running")


def _owner(plan: ProvisioningPlan) -> str:
    return f"{plan.namespace}/{plan.name}"


def is_as_desired(pool: AgentPool, count: int) -> bool:
    """Settled in Succeeded with `count` nodes (and running, unless zero are wanted)."""
    props = _props(pool)
    return (
        props.provisioning_state == "Succeeded"
        and int(props.count or 0) == count
        and (count == 0 or _power(pool) == "Running")
    )


class AgentPoolActivities:
    def __init__(
        self, config: ActivityConfig, client: ContainerServiceClient, *, waits: Waits | None = None
    ) -> None:
        self._cluster = config.cluster
        self._client = client
        self._waits = waits or Waits()

    # ---- reading ----------------------------------------------------------------------------------

    async def _get(self, name: str) -> AgentPool | None:
        try:
            return await self._client.agent_pools.get(
                self._cluster.resource_group, self._cluster.cluster_name, name
            )
        except ResourceNotFoundError:
            return None
        except AZURE_FAILURES as err:
            raise classify(err, f"read agent pool {name}") from None

    async def _settled(self, name: str, doing: str) -> AgentPool | None:
        """The pool when no operation runs on it, None when it does not exist; else a busy retry."""
        pool = await self._get(name)
        state = text(_props(pool).provisioning_state) if pool is not None else ABSENT
        if state in BUSY_STATES:
            raise busy(doing, f"agent pool {name} is {state}", self._waits.busy_retry)
        return pool

    def _check_ours(self, pool: AgentPool, plan: ProvisioningPlan) -> None:
        """Refuse to touch a pool of another size, another workspace, or the cluster's System pool."""
        props = _props(pool)
        owner = (props.tags or {}).get(OWNER_TAG)
        problem = None
        if text(props.mode, "User") == "System":
            problem = "is a System pool of the cluster"
        elif owner is not None and owner != _owner(plan):
            problem = f"belongs to workspace {owner}"
        elif text(props.scale_set_priority, "Regular") != ("Spot" if plan.spot else "Regular"):
            problem = (
                f"exists with scaleSetPriority {text(props.scale_set_priority, 'Regular')}; delete it to "
                "change between Spot and on-demand"
            )
        elif text(props.vm_size).lower() != plan.instance_type.lower():
            problem = (
                f"exists with vmSize {props.vm_size}, not {plan.instance_type}; "
                "delete the workspace and create it again to change the VM size"
            )
        if problem:
            raise ApplicationError(
                f"agent pool {plan.agent_pool} {problem}", type="AgentPoolConflict", non_retryable=True
            )

    # ---- writing ----------------------------------------------------------------------------------

    async def _put(
        self, plan: ProvisioningPlan, count: int, existing: AgentPool | None, doing: str
    ) -> AgentPool:
        body = agent_pool_body(plan, count=count)
        if plan.spot:  # evicted VMs are deleted, and the price is capped at the on-demand price
            body["properties"].update(
                {"scaleSetPriority": "Spot", "scaleSetEvictionPolicy": "Delete", "spotMaxPrice": -1}
            )
        if existing is not None and count > 0 and _power(existing) == "Stopped":
            body["properties"]["powerState"] = {"code": "Running"}  # a stopped pool must be started to scale
        try:
            poller = await self._client.agent_pools.begin_create_or_update(
                self._cluster.resource_group, self._cluster.cluster_name, plan.agent_pool, AgentPool(body)
            )
            return await await_operation(poller, doing, self._waits)
        except AZURE_FAILURES as err:
            raise classify(err, doing, busy_retry=self._waits.busy_retry) from None

    async def ensure_count(
        self, plan: ProvisioningPlan, count: int, *, create: bool = True
    ) -> AgentPoolState:
        """Make the pool exist with `count` nodes of the planned size; no PUT when it already does.

        With `create=False` an absent pool stays absent (reported as provisioning_state "NotFound").
        """
        name = plan.agent_pool
        doing = f"put agent pool {name} ({count} × {plan.instance_type})"
        existing = await self._settled(name, doing)
        if existing is not None:
            self._check_ours(existing, plan)
            if is_as_desired(existing, count):
                return pool_state(existing)
        elif not create:
            return AgentPoolState(name=name, provisioning_state=ABSENT, count=0, vm_size=plan.instance_type)
        pool = await self._put(plan, count, existing, doing)
        if not is_as_desired(pool, count):
            # Our operation succeeded, but by its final GET another one had changed the pool.
            state = pool_state(pool)
            raise busy(
                doing,
                f"agent pool {name} is {state.provisioning_state} with {state.count} nodes after our PUT",
                self._waits.busy_retry,
            )
        return pool_state(pool)

    # ---- activities -------------------------------------------------------------------------------

    @activity.defn(name=ActivityName.ENSURE_AGENT_POOL)
    async def ensure_agent_pool(self, plan: ProvisioningPlan) -> AgentPoolState:
        """Create the workspace's GPU pool, or bring an existing one to the plan's node count."""
        return await self.ensure_count(plan, plan.node_count)

    @activity.defn(name=ActivityName.SCALE_AGENT_POOL)
    async def scale_agent_pool(self, scale: PoolScale) -> AgentPoolState:
        """Scale to `count` (0 = suspend: no VMs, the pool stays). Scaling an absent pool to 0 creates
        nothing; scaling it to more than 0 creates it, as ensure does."""
        return await self.ensure_count(scale.plan, scale.count, create=scale.count > 0)

    @activity.defn(name=ActivityName.DELETE_AGENT_POOL)
    async def delete_agent_pool(self, plan: ProvisioningPlan) -> None:
        """Delete the pool; already gone (404, or a Deleting that has ended by a later attempt) is done."""
        name = plan.agent_pool
        doing = f"delete agent pool {name}"
        existing = await self._settled(name, doing)
        if existing is None:
            return
        self._check_ours_for_delete(existing, plan)
        try:
            poller = await self._client.agent_pools.begin_delete(
                self._cluster.resource_group, self._cluster.cluster_name, name
            )
            await await_operation(poller, doing, self._waits)
        except ResourceNotFoundError:
            return
        except AZURE_FAILURES as err:
            raise classify(err, doing, busy_retry=self._waits.busy_retry) from None

    def _check_ours_for_delete(self, pool: AgentPool, plan: ProvisioningPlan) -> None:
        """Deleting only checks ownership: a pool of another size named for this workspace is still ours."""
        props = _props(pool)
        owner = (props.tags or {}).get(OWNER_TAG)
        if text(props.mode, "User") == "System" or (owner is not None and owner != _owner(plan)):
            raise ApplicationError(
                f"agent pool {plan.agent_pool} is not this workspace's to delete "
                f"(mode {props.mode}, owner {owner})",
                type="AgentPoolConflict",
                non_retryable=True,
            )
