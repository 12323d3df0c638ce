"""Quota before the PUT, and the per-family queue: read `usage.list`, find the waiters, wake them.

`check_capacity` reads the region's vCPU quota and usage for the plan's VM family through the Compute
SDK (`ComputeManagementClient.usage.list`), the cores the workspace's own pool already holds, and the
family's queue (running workspace workflows carrying the `KaitoCapacityFamily` search attribute, oldest
first), and says whether the pool fits once the waiters ahead are served. When it does not, it names the
cheapest other size that fits the model and has quota free, for the condition's fix.

`wake_capacity_waiters` runs after a pool of the family was deleted or scaled to zero (or a waiter left
the queue): one usage read, one visibility query, and a signal to each waiter with its place and the
cores free, so only a waiter whose turn it may be reads the quota again.

A caller that may not read usages (403: Azure wants Microsoft.Compute/locations/usages/read on the
subscription) is not stopped: the report then says nothing is known, the pool is tried, and ARM's own
QuotaExceeded sends the workspace to the queue.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError

from activities.agent_pools import text
from activities.azure_errors import AZURE_FAILURES, classify
from activities.config import ActivityConfig
from presets.models import find_model
from presets.sizing import nodes_needed
from presets.skus import all_skus
from presets.vm_sizes import find_vm_size
from workflows import search_attributes as sa
from workflows.workspace_contracts import (
    WORKSPACE_WORKFLOW,
    ActivityName,
    CapacityFreed,
    CapacityNotice,
    CapacityReport,
    CapacityRequest,
    ProvisioningPlan,
    SignalName,
    SkuOption,
)

UNKNOWN_LIMIT = 1 << 30  # a quota we may not read: assume room, and let ARM's answer decide


@dataclass(frozen=True)
class Waiter:
    workflow_id: str
    queued_at: str
    cores: int


def queue_query(family: str) -> str:
    """The visibility query of a family's queue (the family names contain spaces, never quotes)."""
    return (
        f"WorkflowType = '{WORKSPACE_WORKFLOW}' AND ExecutionStatus = 'Running' AND "
        f"{sa.CAPACITY_FAMILY.name} = '{family}'"
    )


def _first(values: object) -> str:
    if isinstance(values, list):
        return str(values[0]) if values else ""
    return "" if values is None else str(values)


class CapacityActivities:
    def __init__(
        self,
        config: ActivityConfig,
        compute: ComputeManagementClient,
        aks: ContainerServiceClient,
        *,
        temporal: Client | None = None,
    ) -> None:
        self._cluster = config.cluster
        self._compute = compute
        self._aks = aks
        self._temporal = temporal
        self._location: str | None = None

    def _client(self) -> Client:
        return self._temporal or activity.client()

    # ---- Azure -------------------------------------------------------------------------------------

    async def location(self) -> str:
        """The cluster's region (read once: a cluster never moves)."""
        if self._location is None:
            try:
                cluster = await self._aks.managed_clusters.get(
                    self._cluster.resource_group, self._cluster.cluster_name
                )
            except AZURE_FAILURES as err:
                raise classify(err, f"read managed cluster {self._cluster.cluster_name}") from None
            self._location = str(cluster.location).replace(" ", "").lower()
        return self._location

    async def usages(self, location: str) -> dict[str, tuple[int, int]] | None:
        """family -> (vCPUs in use, limit); None when this identity may not read them."""
        found: dict[str, tuple[int, int]] = {}
        try:
            async for usage in self._compute.usage.list(location):
                found[str(usage.name.value)] = (int(usage.current_value), int(usage.limit))
        except HttpResponseError as err:
            if err.status_code == 403:
                activity.logger.warning("cannot read the %s quota, trying the PUT instead: %s", location, err)
                return None
            raise classify(err, f"read the vCPU quotas of {location}") from None
        except AZURE_FAILURES as err:
            raise classify(err, f"read the vCPU quotas of {location}") from None
        return found

    async def _own_cores(self, plan: ProvisioningPlan) -> int:
        """The cores the workspace's own pool already holds in the plan's family (running nodes only)."""
        try:
            pool = await self._aks.agent_pools.get(
                self._cluster.resource_group, self._cluster.cluster_name, plan.agent_pool
            )
        except ResourceNotFoundError:
            return 0
        except AZURE_FAILURES as err:
            raise classify(err, f"read agent pool {plan.agent_pool}") from None
        props = pool.properties
        size = find_vm_size(str(props.vm_size or "")) if props is not None else None
        wanted = find_vm_size(plan.instance_type)
        if props is None or size is None or wanted is None or size.family != wanted.family:
            return 0
        power = text(props.power_state.code if props.power_state is not None else None, "Running")
        return 0 if power == "Stopped" else size.vcpus * int(props.count or 0)

    # ---- the queue ---------------------------------------------------------------------------------

    async def waiters(self, family: str) -> list[Waiter]:
        """The family's queue, first come first."""
        found: list[Waiter] = []
        try:
            async for execution in self._client().list_workflows(queue_query(family)):
                attrs = execution.search_attributes
                found.append(
                    Waiter(
                        workflow_id=execution.id,
                        queued_at=_first(attrs.get(sa.CAPACITY_QUEUED_AT.name)),
                        cores=int(_first(attrs.get(sa.CAPACITY_CORES.name)) or 0),
                    )
                )
        except RPCError as err:
            raise RuntimeError(f"list the {family} capacity queue: {err.message}") from None
        return sorted(found, key=lambda w: (w.queued_at, w.workflow_id))

    @staticmethod
    def ahead_of(queue: list[Waiter], workflow_id: str, queued_at: datetime | None) -> list[Waiter]:
        """The waiters served before this workspace: all of them when it is not queued yet."""
        if queued_at is None:
            return [w for w in queue if w.workflow_id != workflow_id]
        mine = queued_at.isoformat(timespec="microseconds")
        return [
            w
            for w in queue
            if w.workflow_id != workflow_id and (w.queued_at, w.workflow_id) < (mine, workflow_id)
        ]

    # ---- activities --------------------------------------------------------------------------------

    @activity.defn(name=ActivityName.CHECK_CAPACITY)
    async def check_capacity(self, request: CapacityRequest) -> CapacityReport:
        """Whether the plan's pool fits the family's free quota after the waiters ahead of it."""
        plan = request.plan
        size = find_vm_size(plan.instance_type)
        location = await self.location()
        usages = await self.usages(location) if size is not None else None
        if size is None or usages is None:
            family = size.family if size else "unknown"
            return CapacityReport(
                instance_type=plan.instance_type, family=family, location=location,
                limit=UNKNOWN_LIMIT, usage=0, needed=0,
            )  # fmt: skip
        usage, limit = usages.get(size.family, (0, 0))
        needed = max(0, size.vcpus * plan.node_count - await self._own_cores(plan))
        ahead = self.ahead_of(await self.waiters(size.family), request.workflow_id, request.queued_at)
        report = CapacityReport(
            instance_type=plan.instance_type,
            family=size.family,
            location=location,
            limit=limit,
            usage=usage,
            needed=needed,
            ahead=len(ahead),
            ahead_cores=sum(w.cores for w in ahead),
        )
        if not report.fits:
            report.alternative = cheapest_with_quota(plan, usages)
        return report

    @activity.defn(name=ActivityName.WAKE_CAPACITY_WAITERS)
    async def wake_capacity_waiters(self, freed: CapacityFreed) -> int:
        """Signal each waiter of the size's family its place and the cores now free; returns how many."""
        size = find_vm_size(freed.instance_type)
        if size is None:
            return 0
        queue = await self.waiters(size.family)
        if not queue:
            return 0
        usages = await self.usages(await self.location())
        usage, limit = (usages or {}).get(size.family, (0, UNKNOWN_LIMIT))
        free, ahead_cores = max(0, limit - usage), 0
        now = activity.info().current_attempt_scheduled_time
        for place, waiter in enumerate(queue, start=1):
            notice = CapacityNotice(
                family=size.family, free=free, place=place, ahead_cores=ahead_cores, at=now
            )
            try:
                await (
                    self._client()
                    .get_workflow_handle(waiter.workflow_id)
                    .signal(SignalName.CAPACITY_CHANGED, notice)
                )
            except RPCError as err:  # it ended meanwhile (deleted while waiting): nothing to tell
                activity.logger.info("waiter %s not signalled: %s", waiter.workflow_id, err.message)
            ahead_cores += waiter.cores
        return len(queue)


def cheapest_with_quota(plan: ProvisioningPlan, usages: dict[str, tuple[int, int]]) -> SkuOption | None:
    """The cheapest other current NVIDIA size that holds the plan's model and whose family has the cores
    free now (one node preferred, as admission's suggestion prefers it)."""
    model = find_model(plan.model)
    if model is None:
        return None
    best: tuple[tuple[int, float], SkuOption] | None = None
    for sku in all_skus():
        if sku.retired or not sku.is_nvidia or sku.name.lower() == plan.instance_type.lower():
            continue
        count = nodes_needed(model, sku)
        if count is None or (count > 1 and not model.distributed):
            continue
        usage, limit = usages.get(sku.family, (0, 0))
        cores, free = sku.vcpus * count, max(0, limit - usage)
        if cores > free:
            continue
        option = SkuOption(
            instance_type=sku.name,
            family=sku.family,
            node_count=count,
            cores=cores,
            free=free,
            hourly_usd=round(sku.hourly_usd * count, 2),
        )
        key = (count, count * sku.hourly_usd if not math.isnan(sku.hourly_usd) else math.inf)
        if best is None or key < best[0]:
            best = (key, option)
    return best[1] if best else None
