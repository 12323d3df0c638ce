"""Fake side effects registered under the real activity names, with knobs a test can turn.

The validate activity is the real one: it is pure, and the workflow's behaviour depends on its plan.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError

from activities.capacity import CapacityActivities, Waiter, cheapest_with_quota
from activities.config import ActivityConfig, ClusterTarget
from activities.planning import PlanningActivities
from activities.sweep import candidate_from
from presets.vm_sizes import all_vm_sizes, find_vm_size
from workflows import search_attributes as sa
from workflows.sweep_contracts import (
    SweepActivity,
    SweepCandidate,
    SweepCandidates,
    TrafficSample,
    WorkspaceRef,
)
from workflows.workspace_contracts import (
    ActivityName,
    AgentPoolState,
    CapacityFreed,
    CapacityNotice,
    CapacityReport,
    CapacityRequest,
    GatewayRoute,
    HealthReport,
    InferenceObjects,
    InferenceScale,
    NodeReadiness,
    PoolScale,
    ProvisioningPlan,
    SignalName,
    StatusUpdate,
    WorkloadReadiness,
)
from workflows.workspace_spec import Workspace

CONFIG = ActivityConfig(
    cluster=ClusterTarget(subscription_id="sub", resource_group="rg", cluster_name="aks"),
    node_ready_timeout=timedelta(minutes=30),
    inference_ready_timeout=timedelta(minutes=30),
)


@dataclass
class FakeCloud:
    """Counts every call; `pool_failures` transient errors precede a successful pool create.

    With `auto`, it behaves like a cloud per workspace: a pool brings its nodes, a workload its replicas,
    scaling to zero takes them away, and a Ready workload is a sweep candidate with its `traffic` counter.
    """

    pool_failures: int = 0
    pool_refused_on_call: int | None = None  # this ensure call fails for good (say, quota)
    pool_refusal: str = "QuotaExceeded"  # the ARM code of that refusal
    delete_refused: bool = False  # deleting the pool fails for good (say, a refused credential)
    ready_nodes: int = 0
    ready_replicas: int = 0
    auto: bool = False
    calls: dict[str, int] = field(default_factory=dict)
    statuses: list[StatusUpdate] = field(default_factory=list)
    nodes: dict[str, int] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    annotations: dict[str, dict[str, str]] = field(default_factory=dict)
    pool_counts: list[tuple[str, int]] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    # The region: vCPU quota per family (absent: plenty), the cores each workspace's pool holds, the queue.
    quotas: dict[str, int] = field(default_factory=dict)
    held: dict[str, tuple[str, int]] = field(default_factory=dict)
    workflow_ids: dict[str, str] = field(default_factory=dict)
    refuse_sizes: dict[str, str] = field(default_factory=dict)  # size -> ARM code its PUT gets (once each)
    wakes: list[int] = field(default_factory=list)
    routes: list[tuple[str, bool]] = field(default_factory=list)  # (workspace, to the gateway?) per step
    health_fails: bool = False  # the health check fails for good (a model that never answers)
    applied_routed: list[bool] = field(default_factory=list)  # each ensure_inference: Service kept routed?

    async def _gate(self, name: str) -> None:
        """Hold the activity while the test keeps its gate closed (to catch the workflow mid-step)."""
        gate = self.gates.get(name)
        if gate is not None:
            await gate.wait()

    @activity.defn(name=ActivityName.VALIDATE)
    async def validate_workspace(self, ws: Workspace) -> ProvisioningPlan:
        self._count(ActivityName.VALIDATE)
        await self._gate(ActivityName.VALIDATE)
        return await PlanningActivities(CONFIG).validate_workspace(ws)

    def written(self, type_: str) -> tuple[str, str]:
        """Status and reason of the `type_` condition in the last status written to the Workspace."""
        condition = next(c for c in self.statuses[-1].conditions if c.type == type_)
        return condition.status, condition.reason

    def _count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.validate_workspace,
            self.ensure_workspace_object,
            self.delete_workspace_object,
            self.ensure_agent_pool,
            self.delete_agent_pool,
            self.count_ready_nodes,
            self.ensure_inference,
            self.count_ready_replicas,
            self.delete_inference,
            self.check_inference_health,
            self.write_workspace_status,
            self.scale_inference,
            self.scale_agent_pool,
            self.list_sweep_candidates,
            self.sample_inference_traffic,
            self.check_capacity,
            self.wake_capacity_waiters,
            self.route_service_to_gateway,
            self.route_service_to_model,
        ]

    # ---- the region's quota and the queue -------------------------------------------------------------

    def usages(self) -> dict[str, tuple[int, int]]:
        used: dict[str, int] = {}
        for family, cores in self.held.values():
            used[family] = used.get(family, 0) + cores
        families = {size.family for size in all_vm_sizes()}
        return {f: (used.get(f, 0), self.quotas.get(f, 10_000)) for f in families}

    async def _queue(self, family: str) -> list[Waiter]:
        """The family's queue as the real activity finds it: running workflows whose search attributes
        say they wait for it (the test server has no visibility queries, so each known one is described)."""
        found: list[Waiter] = []
        for workflow_id in sorted(set(self.workflow_ids.values())):
            described = await activity.client().get_workflow_handle(workflow_id).describe()
            attrs = described.search_attributes
            if described.status != WorkflowExecutionStatus.RUNNING or attrs.get(sa.CAPACITY_FAMILY.name) != [
                family
            ]:
                continue
            queued_at = str(attrs[sa.CAPACITY_QUEUED_AT.name][0])
            found.append(Waiter(workflow_id, queued_at, int(str(attrs[sa.CAPACITY_CORES.name][0]))))
        return sorted(found, key=lambda w: (w.queued_at, w.workflow_id))

    @activity.defn(name=ActivityName.CHECK_CAPACITY)
    async def check_capacity(self, request: CapacityRequest) -> CapacityReport:
        self._count(ActivityName.CHECK_CAPACITY)
        plan = request.plan
        self.workflow_ids[plan.name] = request.workflow_id
        size = find_vm_size(plan.instance_type)
        assert size is not None
        usage, limit = self.usages().get(size.family, (0, self.quotas.get(size.family, 10_000)))
        own = self.held.get(plan.name)
        needed = max(0, size.vcpus * plan.node_count - (own[1] if own and own[0] == size.family else 0))
        family_queue = await self._queue(size.family)
        ahead = CapacityActivities.ahead_of(family_queue, request.workflow_id, request.queued_at)
        report = CapacityReport(
            instance_type=plan.instance_type, family=size.family, location="eastus", limit=limit,
            usage=usage, needed=needed, ahead=len(ahead), ahead_cores=sum(w.cores for w in ahead),
        )  # fmt: skip
        if not report.fits:
            report.alternative = cheapest_with_quota(plan, self.usages())
        return report

    @activity.defn(name=ActivityName.WAKE_CAPACITY_WAITERS)
    async def wake_capacity_waiters(self, freed: CapacityFreed) -> int:
        self._count(ActivityName.WAKE_CAPACITY_WAITERS)
        size = find_vm_size(freed.instance_type)
        assert size is not None
        waiters = await self._queue(size.family)
        usage, limit = self.usages().get(size.family, (0, self.quotas.get(size.family, 10_000)))
        ahead = 0
        for place, waiter in enumerate(waiters, start=1):
            notice = CapacityNotice(
                family=size.family,
                free=max(0, limit - usage),
                place=place,
                ahead_cores=ahead,
                at=activity.info().current_attempt_scheduled_time,
            )
            await (
                activity.client()
                .get_workflow_handle(waiter.workflow_id)
                .signal(SignalName.CAPACITY_CHANGED, notice)
            )
            ahead += waiter.cores
        self.wakes.append(len(waiters))
        return len(waiters)

    @activity.defn(name=ActivityName.ENSURE_OBJECT)
    async def ensure_workspace_object(self, ws: Workspace) -> str:
        self._count(ActivityName.ENSURE_OBJECT)
        return f"uid-{ws.name}"

    @activity.defn(name=ActivityName.DELETE_OBJECT)
    async def delete_workspace_object(self, ws: Workspace) -> None:
        self._count(ActivityName.DELETE_OBJECT)

    @activity.defn(name=ActivityName.ENSURE_AGENT_POOL)
    async def ensure_agent_pool(self, plan: ProvisioningPlan) -> AgentPoolState:
        await self._gate(ActivityName.ENSURE_AGENT_POOL)
        attempt = self._count(ActivityName.ENSURE_AGENT_POOL)
        if attempt <= self.pool_failures:
            raise ApplicationError(f"injected 503 on attempt {attempt}", type="ServiceUnavailable")
        if attempt == self.pool_refused_on_call:
            raise ApplicationError(
                f"{self.pool_refusal}: no NCSv3 cores left", type=self.pool_refusal, non_retryable=True
            )
        code = self.refuse_sizes.pop(plan.instance_type, None)
        if code is not None:
            raise ApplicationError(
                f"{code}: no {plan.instance_type} VMs in eastus", type=code, non_retryable=True
            )
        self._set_pool(plan, plan.node_count)
        return AgentPoolState(
            name=plan.agent_pool,
            provisioning_state="Succeeded",
            count=plan.node_count,
            vm_size=plan.instance_type,
        )

    @activity.defn(name=ActivityName.DELETE_AGENT_POOL)
    async def delete_agent_pool(self, plan: ProvisioningPlan) -> None:
        self._count(ActivityName.DELETE_AGENT_POOL)
        if self.delete_refused:
            raise ApplicationError(
                "CredentialRefused: AADSTS70021", type="CredentialRefused", non_retryable=True
            )
        self._set_pool(plan, 0)

    @activity.defn(name=ActivityName.COUNT_READY_NODES)
    async def count_ready_nodes(self, plan: ProvisioningPlan) -> NodeReadiness:
        self._count(ActivityName.COUNT_READY_NODES)
        if self.auto:
            ready = self.nodes.get(plan.name, 0)
            return NodeReadiness(
                ready=ready, nodes=[f"aks-{plan.agent_pool}-0-vmss00000{i}" for i in range(ready)]
            )
        return NodeReadiness(
            ready=self.ready_nodes,
            nodes=[f"aks-{plan.agent_pool}-0-vmss00000{i}" for i in range(self.ready_nodes)],
        )

    @activity.defn(name=ActivityName.ENSURE_INFERENCE)
    async def ensure_inference(self, plan: ProvisioningPlan) -> InferenceObjects:
        await self._gate(ActivityName.ENSURE_INFERENCE)
        self._count(ActivityName.ENSURE_INFERENCE)
        self.applied_routed.append(plan.routed_to_gateway)
        if self.auto:
            self.replicas[plan.name] = plan.node_count
        return InferenceObjects(
            service=plan.name, workload=plan.name, endpoint=f"http://{plan.name}.{plan.namespace}.svc:80"
        )

    @activity.defn(name=ActivityName.COUNT_READY_REPLICAS)
    async def count_ready_replicas(self, plan: ProvisioningPlan) -> WorkloadReadiness:
        self._count(ActivityName.COUNT_READY_REPLICAS)
        await self._gate(ActivityName.COUNT_READY_REPLICAS)
        if self.auto:
            return WorkloadReadiness(ready_replicas=self.replicas.get(plan.name, 0), replicas=plan.node_count)
        return WorkloadReadiness(ready_replicas=self.ready_replicas, replicas=plan.node_count)

    @activity.defn(name=ActivityName.DELETE_INFERENCE)
    async def delete_inference(self, plan: ProvisioningPlan) -> None:
        self._count(ActivityName.DELETE_INFERENCE)
        self.replicas.pop(plan.name, None)

    @activity.defn(name=ActivityName.CHECK_HEALTH)
    async def check_inference_health(self, plan: ProvisioningPlan) -> HealthReport:
        await self._gate(ActivityName.CHECK_HEALTH)
        self._count(ActivityName.CHECK_HEALTH)
        if self.health_fails:
            raise ApplicationError("the model did not answer", type="InferenceUnhealthy", non_retryable=True)
        return HealthReport(model=plan.served_model_name, answer="stand-in answer")

    @activity.defn(name=ActivityName.WRITE_STATUS)
    async def write_workspace_status(self, update: StatusUpdate) -> None:
        self._count(ActivityName.WRITE_STATUS)
        self.statuses.append(update)

    def _set_pool(self, plan: ProvisioningPlan, count: int) -> None:
        self.pool_counts.append((plan.name, count))
        size = find_vm_size(plan.instance_type)
        if size is not None and count > 0:
            self.held[plan.name] = (size.family, size.vcpus * count)
        else:
            self.held.pop(plan.name, None)
        if self.auto:
            self.nodes[plan.name] = count

    @activity.defn(name=ActivityName.ROUTE_TO_GATEWAY)
    async def route_service_to_gateway(self, plan: ProvisioningPlan) -> GatewayRoute:
        self._count(ActivityName.ROUTE_TO_GATEWAY)
        self.routes.append((plan.name, True))
        return GatewayRoute(to_gateway=True, addresses=["10.0.0.9"])

    @activity.defn(name=ActivityName.ROUTE_TO_MODEL)
    async def route_service_to_model(self, plan: ProvisioningPlan) -> GatewayRoute:
        self._count(ActivityName.ROUTE_TO_MODEL)
        self.routes.append((plan.name, False))
        return GatewayRoute(to_gateway=False)

    @activity.defn(name=ActivityName.SCALE_INFERENCE)
    async def scale_inference(self, scale: InferenceScale) -> None:
        self._count(ActivityName.SCALE_INFERENCE)
        self.replicas[scale.plan.name] = scale.replicas

    @activity.defn(name=ActivityName.SCALE_AGENT_POOL)
    async def scale_agent_pool(self, scale: PoolScale) -> AgentPoolState:
        self._count(ActivityName.SCALE_AGENT_POOL)
        self._set_pool(scale.plan, scale.count)
        return AgentPoolState(
            name=scale.plan.agent_pool,
            provisioning_state="Succeeded",
            count=scale.count,
            vm_size=scale.plan.instance_type,
        )

    @activity.defn(name=SweepActivity.LIST_CANDIDATES)
    async def list_sweep_candidates(self) -> SweepCandidates:
        self._count(SweepActivity.LIST_CANDIDATES)
        ready = [name for name, count in self.replicas.items() if count > 0]
        return SweepCandidates(
            candidates=[
                candidate_from(
                    {
                        "metadata": {
                            "name": name,
                            "namespace": "default",
                            "annotations": self.annotations.get(name, {}),
                        },
                        "status": {"state": "Ready", "conditions": self._conditions_of(name)},
                    }
                )
                or SweepCandidate(ref=WorkspaceRef(namespace="default", name=name))
                for name in sorted(ready)
            ]
        )

    def _conditions_of(self, name: str) -> list[dict[str, Any]]:
        """The conditions last written to the Workspace `name`, as the apiserver would serve them."""
        written = [u for u in self.statuses if u.name == name]
        return [c.model_dump(mode="json", by_alias=True) for c in written[-1].conditions] if written else []

    @activity.defn(name=SweepActivity.SAMPLE_TRAFFIC)
    async def sample_inference_traffic(self, ref: WorkspaceRef) -> TrafficSample:
        self._count(SweepActivity.SAMPLE_TRAFFIC)
        return TrafficSample(ref=ref, requests_total=self.traffic.get(ref.name, 0))
