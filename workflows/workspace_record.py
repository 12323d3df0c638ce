"""What the workspace workflow knows and shows of its Workspace, and the one way it says so.

It knows the spec and plan, the readiness and traffic reported by signal, the phase with its message and
timings, the KAITO status and what a continued-as-new run carries over. It shows them through the status
query, the search attributes, the UI's current details and the Workspace's status subresource; `_enter`
moves to a phase and updates all of them at once, so kubectl and the Temporal UI never disagree.
"""

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows import search_attributes as sa
from workflows.activity_options import start_activity
from workflows.conditions import KaitoStatus
from workflows.savings import Savings, saved_while_suspended
from workflows.spot import saved_on_spot
from workflows.workspace_contracts import (
    STATUS_QUERY,
    ActivityName,
    CapacityReport,
    CarriedState,
    NodeReadiness,
    Phase,
    PhaseTiming,
    PodHealth,
    ProvisioningPlan,
    SignalName,
    StatusUpdate,
    TrafficObserved,
    WorkloadReadiness,
    WorkspaceStatus,
)
from workflows.workspace_spec import Workspace
from workflows.workspace_steps import Recount

CARRIED_MEMO = "kaito-carried"
# Status writes run behind the flow: the next step is scheduled in the same workflow task instead of
# after the write's round trip (a fleet's signal -> apply was mostly that, bench/fleet.py). One write is
# in flight at a time and each carries the newest state, so a slow write never lands after a newer one.
# Runs that began before this change await each write as they did.
STATUS_WRITES_BEHIND = "status-writes-behind"


class WorkspaceRecord:
    """The workspace workflow's state, what it observes and its book-keeping; the workflow adds the flow."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        # A continued-as-new run finds what it must not forget in the memo; the input stays the manifest.
        self._carried = workflow.memo_value(CARRIED_MEMO, CarriedState(), type_hint=CarriedState)
        self._plan: ProvisioningPlan | None = None
        self._phase = Phase.PENDING
        self._message = ""
        self._timings: dict[str, PhaseTiming] = {}
        self._kaito = KaitoStatus(clock=workflow.now)
        self._nodes = NodeReadiness(ready=0)
        self._replicas = WorkloadReadiness(ready_replicas=0)
        self._endpoint: str | None = None
        self._capacity: CapacityReport | None = None  # the last quota read of the size being provisioned
        # Each inference pod's health as the controllers last saw it; `_health_seen` counts the signals.
        self._pod_health: dict[str, PodHealth] = {}
        self._health_seen = 0
        self._health_shown: str | None = None  # the problem the status shows now; None: serving
        self._status_stale = False  # the state changed since the write in flight took its copy
        self._status_writer: asyncio.Task[None] | None = None
        # What the controllers signal, counted afresh for the plan at the start and the deadline of a wait.
        nodes, replicas = ActivityName.COUNT_READY_NODES, ActivityName.COUNT_READY_REPLICAS
        self._recount_nodes = Recount(nodes, self._planned, NodeReadiness, self.nodes_ready)
        self._recount_replicas = Recount(replicas, self._planned, WorkloadReadiness, self.inference_ready)

    # ---- what the controllers and the sweep report --------------------------------------------------

    @workflow.signal(name=SignalName.NODES_READY)
    def nodes_ready(self, readiness: NodeReadiness) -> None:
        """Absolute counts: the newest observation wins, duplicates and stale repeats change nothing."""
        self._nodes = self._nodes.superseded_by(readiness)

    @workflow.signal(name=SignalName.INFERENCE_READY)
    def inference_ready(self, readiness: WorkloadReadiness) -> None:
        """Absolute counts, the newest observation winning, as for the nodes."""
        self._replicas = self._replicas.superseded_by(readiness)

    @workflow.signal(name=SignalName.POD_HEALTH)
    def pod_health(self, health: PodHealth) -> None:
        """A pod crash-looping, OOM-killed, or well again; the newest observation of each pod wins."""
        known = self._pod_health.get(health.pod)
        self._pod_health[health.pod] = known.superseded_by(health) if known else health
        self._health_seen += 1

    def _pod_problem(self) -> PodHealth | None:
        return next((h for _, h in sorted(self._pod_health.items()) if h.reason), None)

    @workflow.signal(name=SignalName.TRAFFIC_OBSERVED)
    def traffic_observed(self, traffic: TrafficObserved) -> None:
        last = self._carried.last_traffic_at
        if last is None or traffic.at > last:
            self._carried.last_traffic_at = traffic.at

    # ---- how far a wait has got: None once it is over, else what is still missing ----------------------

    def _nodes_short(self) -> str | None:
        ready, target = self._nodes.ready, self._planned().node_count
        return None if ready >= target else f"{ready}/{target} nodes Ready"

    def _replicas_short(self) -> str | None:
        ready, target = self._replicas.ready_replicas, self._planned().node_count
        return None if ready >= target else f"{ready}/{target} replicas ready"

    def _nodes_left(self) -> str | None:
        return f"{self._nodes.ready} nodes left" if self._nodes.ready else None

    # ---- what it shows --------------------------------------------------------------------------------

    def _tag_search_attributes(self, workspace: Workspace) -> None:
        """Search attributes that let the Temporal UI filter workspaces by name, namespace, model, SKU."""
        workflow.upsert_search_attributes(
            [pair.key.value_set(pair.value) for pair in sa.of_workspace(workspace)]
        )

    def _planned(self) -> ProvisioningPlan:
        assert self._plan is not None, "every step after the validation has the plan"
        return self._plan

    async def _enter(self, phase: Phase, message: str) -> None:
        now = workflow.now()
        previous = self._timings.get(self._phase.value)
        if previous and previous.finished is None:
            previous.finished = now
        self._phase = phase
        self._message = message
        self._timings[phase.value] = PhaseTiming(started=now)
        workflow.upsert_search_attributes([sa.PHASE.value_set(phase.value)])
        workflow.set_current_details(f"**{phase.value}** — {message}")
        await self._write_status()
        if phase in (Phase.FAILED, Phase.DELETED):
            await self._status_written()  # the run ends soon: a write still in flight would be dropped

    async def _write_status(self) -> None:
        """Best effort: the query stays authoritative when the cluster cannot be written for a while.
        Returns once the write is scheduled (behind the flow), or once done in runs from before that."""
        if not workflow.patched(STATUS_WRITES_BEHIND):
            await self._write_status_now()
            return
        self._status_stale = True
        if self._status_writer is None or self._status_writer.done():
            self._status_writer = asyncio.create_task(self._write_behind())

    async def _write_behind(self) -> None:
        while self._status_stale:
            self._status_stale = False
            await self._write_status_now()

    async def _status_written(self) -> None:
        """Until every status write scheduled so far has landed (or given up)."""
        while self._status_writer is not None and not self._status_writer.done():
            await self._status_writer

    async def _write_status_now(self) -> None:
        update = StatusUpdate(
            namespace=self._ws.namespace,
            name=self._ws.name,
            state=self._kaito.state,
            conditions=self._kaito.conditions(),
            worker_nodes=self._nodes.nodes,
            target_node_count=self._plan.node_count if self._plan else None,
        )
        summary = f"status: {self._phase.value}"
        try:
            await start_activity(ActivityName.WRITE_STATUS, update, result_type=type(None), summary=summary)
        except ActivityError as err:
            workflow.logger.warning("could not write the Workspace status: %s", err.cause or err)

    def _end_suspension(self) -> None:
        """Bank what the suspension saved in the carried totals; the workspace is no longer suspended."""
        saved = self._ongoing_savings()
        self._carried.gpu_hours_saved += saved.gpu_hours
        self._carried.usd_saved += saved.usd
        self._carried.suspended = None

    def _bank_spot(self) -> None:
        """Add the Spot hours served since `spot_since` to the carried totals."""
        saved = self._ongoing_spot()
        self._carried.spot_gpu_hours += saved.gpu_hours
        self._carried.spot_usd_saved += saved.usd
        self._carried.spot_since = None

    def _ongoing_spot(self) -> Savings:
        since = self._carried.spot_since
        if self._plan is None or since is None or self._phase != Phase.READY:
            return Savings()
        return saved_on_spot(self._plan, since, workflow.now())

    def _ongoing_savings(self) -> Savings:
        """What the current suspension has saved so far."""
        if self._plan is None or self._carried.suspended is None:
            return Savings()
        return saved_while_suspended(self._plan, self._carried.suspended.since, workflow.now())

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> WorkspaceStatus:
        plan, carried = self._plan, self._carried
        saved = Savings(carried.gpu_hours_saved, carried.usd_saved) + self._ongoing_savings()
        return WorkspaceStatus(
            namespace=self._ws.namespace,
            name=self._ws.name,
            phase=self._phase,
            state=self._kaito.state,
            message=self._message,
            model=self._ws.preset_name,
            served_model=plan.served_model_name if plan else None,
            instance_type=plan.instance_type if plan else self._ws.resource.instance_type,
            agent_pool=plan.agent_pool if plan else None,
            target_nodes=plan.node_count if plan else 0,
            ready_nodes=self._nodes.ready,
            worker_nodes=self._nodes.nodes,
            ready_replicas=self._replicas.ready_replicas,
            endpoint=self._endpoint,
            conditions=self._kaito.conditions(),
            timings=self._timings,
            warnings=plan.warnings if plan else [],
            suspended_since=carried.suspended.since if carried.suspended else None,
            last_traffic_at=carried.last_traffic_at,
            capacity_queued_at=carried.capacity_queued_at,
            capacity=self._capacity if self._phase == Phase.WAITING_FOR_CAPACITY else None,
            # Full precision: a suspension of a few seconds is still a saving; the CLI rounds for display.
            gpu_hours_saved=round(saved.gpu_hours, 6),
            usd_saved=round(saved.usd, 6),
            spot=bool(plan and plan.spot),
            spot_gpu_hours=round(carried.spot_gpu_hours + self._ongoing_spot().gpu_hours, 6),
            spot_usd_saved=round(carried.spot_usd_saved + self._ongoing_spot().usd, 6),
            evictions=len(carried.evictions),
        )
