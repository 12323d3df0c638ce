"""The workspace workflow: one long-lived entity per KAITO Workspace, id `workspace/<ns>/<name>`.

It decides; activities act. The ~10-minute GPU wait is a durable wait on the controllers' signals with
a timer as the deadline and a reconcile activity at its start and at its end, so no worker slot is held
while Azure boots VMs. Every phase change updates the query, the search attributes, the UI's current
details and the Workspace's status conditions, so kubectl and the Temporal UI tell the same story.

This module is the flow. What it knows and shows (its state, the observations signalled to it, the status
query, the phase book-keeping) is `workspace_record`; which KAITO conditions each step sets is
`conditions`; how a step runs and a delete interrupts it, `workspace_steps`; timeouts, `activity_options`.
"""

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.fallback_sizes import spot_may_fall_back, wants_spot
    from workflows.spot import too_many_evictions
    from workflows.workspace_capacity import CAPACITY_AWARE, CAPACITY_CODES, CapacityWaits
    from workflows.workspace_contracts import (
        WAKE_QUERY,
        WORKSPACE_WORKFLOW,
        ActivityName,
        AgentPoolState,
        GatewayRoute,
        HealthReport,
        InferenceObjects,
        InferenceScale,
        Phase,
        PoolScale,
        ProvisioningPlan,
        SignalName,
        SpecChange,
        SuspendedState,
        SuspendRequest,
        UpdateName,
        WakeAnswer,
        WakeRequest,
        WorkloadReadiness,
        WorkspaceResult,
        WorkspaceStatus,
    )
    from workflows.workspace_record import CARRIED_MEMO
    from workflows.workspace_spec import Workspace, WorkspaceUndecodable
    from workflows.workspace_steps import DeleteRequested, Steps
    from workflows.workspace_validation import check_update

# The wake gateway: the suspend routes the Service to it, the resume routes it back to the model, and a
# `wake` update (the gateway's) starts the resume. Runs that suspended before this keep their Service as is.
WAKE_GATEWAY = "wake-gateway-routing"
# What a resume goes through, in order; the sum of their last durations is the wake's expected time.
BRING_UP_PHASES = (
    Phase.CREATING_NODE_POOL,
    Phase.WAITING_FOR_NODES,
    Phase.DEPLOYING,
    Phase.WAITING_FOR_INFERENCE,
    Phase.HEALTH_CHECKING,
)


# An input that does not decode as a Workspace (`temporal workflow start` with a hostile manifest)
# fails the workflow with each field's problem instead of retrying its task forever.
@workflow.defn(name=WORKSPACE_WORKFLOW, failure_exception_types=[WorkspaceUndecodable])
class WorkspaceWorkflow(CapacityWaits):
    @workflow.init
    def __init__(self, workspace: Workspace) -> None:
        super().__init__(workspace)
        self._created_pool = self._created_inference = False
        self._delete_requested = self._resume_requested = False
        self._suspend_request: SuspendRequest | None = None
        self._pending_changes: list[Workspace] = []
        self._steps = Steps(delete_requested=lambda: self._delete_requested)
        self._init_capacity()
        self._serving: tuple[str, str, str] | None = None  # (model, Service, endpoint) once Ready
        # Seconds the last bring-up took, taken when a resume starts: the wake's expected time.
        self._wake_estimate: float | None = None
        self._wake_started = workflow.now()

    @workflow.run
    async def run(self, workspace: Workspace) -> WorkspaceResult:
        self._tag_search_attributes(workspace)
        try:
            await self._validate()
            if self._carried.suspended:
                await self._stay_suspended()
            else:
                await self._bring_up()
            await self._serve()
        except DeleteRequested:
            pass
        except ApplicationError as failure:
            await self._fail(failure)
            raise
        return await self._teardown()

    async def _validate(self) -> None:
        await self._enter(Phase.VALIDATING, "checking the spec against the presets and GPU catalog")
        plan = await self._steps.run(ActivityName.VALIDATE, self._ws, ProvisioningPlan, "validate the spec")
        # Whichever door the user came in by, there is one Workspace object: create it when missing.
        uid = await self._steps.run(
            ActivityName.ENSURE_OBJECT, self._ws, str, "ensure the Workspace object exists"
        )
        spot = wants_spot(self._ws) and not self._carried.spot_given_up
        self._plan = plan.model_copy(update={"uid": uid or None, "spot": spot})
        self._kaito.provisioning_started()

    async def _bring_up(self) -> None:
        """Pool → GPU nodes → workload → model loaded → health: the first time, and on every resume."""
        plan = self._planned()
        if not plan.bring_your_own_nodes:  # BYO (no instanceType): existing nodes, no pool to create
            plan = await self._create_pool(plan)

        await self._enter(Phase.WAITING_FOR_NODES, f"waiting for {plan.node_count} GPU node(s) to be Ready")
        what = f"{plan.node_count} Ready {plan.instance_type} node(s) with nvidia.com/gpu"
        await self._steps.wait_for(what, self._recount_nodes, self._nodes_short, plan.node_ready_timeout)
        self._kaito.nodes_ready(self._nodes)

        await self._enter(Phase.DEPLOYING, f"deploying {plan.model} ({plan.runtime}) and its Service")
        self._created_inference = True
        summary = f"apply Service and {plan.model} workload"
        # While the wake gateway holds the Service, applying it must not put the model's selector back yet.
        routed = (
            plan.model_copy(update={"routed_to_gateway": True}) if self._carried.routed_to_gateway else plan
        )
        objects = await self._steps.run(ActivityName.ENSURE_INFERENCE, routed, InferenceObjects, summary)
        self._endpoint = objects.endpoint

        await self._enter(Phase.WAITING_FOR_INFERENCE, f"waiting for {plan.model} to load")
        what = f"{plan.node_count} ready replica(s) of {plan.model}"
        await self._steps.wait_for(
            what, self._recount_replicas, self._replicas_short, plan.inference_ready_timeout
        )

        if self._carried.routed_to_gateway:  # the model is loaded: the Service routes to it again
            await self._route(ActivityName.ROUTE_TO_MODEL, f"route Service {objects.service} to the model")
        await self._enter(Phase.HEALTH_CHECKING, f"GET /health and one chat completion via {objects.service}")
        summary = "health check through the Service"
        health = await self._steps.run(ActivityName.CHECK_HEALTH, plan, HealthReport, summary)
        self._kaito.serving(health.model, objects.service, objects.endpoint)
        self._serving = (health.model, objects.service, objects.endpoint)
        self._health_shown = None
        if plan.spot:
            self._carried.spot_since = workflow.now()
        await self._enter(Phase.READY, f"serving {plan.served_model_name} at {objects.endpoint}")

    async def _create_pool(self, plan: ProvisioningPlan) -> ProvisioningPlan:
        """The GPU pool, once its VM family has quota free (else in the family's queue, or on a fallback
        size); returns the plan of the size in use, which every later step follows."""
        capacity_aware = workflow.patched(CAPACITY_AWARE)
        resuming = self._created_pool  # the pool exists (at zero): its size stays
        if capacity_aware:
            plan = await self._secure_capacity(plan, resuming=resuming)
        while True:
            self._plan = plan
            pool_text = f"{plan.node_count} × {plan.instance_type} as agent pool {plan.agent_pool}"
            await self._enter(Phase.CREATING_NODE_POOL, f"creating {pool_text}")
            self._created_pool = True
            try:
                pool = await self._steps.run(
                    ActivityName.ENSURE_AGENT_POOL, plan, AgentPoolState, f"create {pool_text}"
                )
                break
            except ApplicationError as refused:
                if not capacity_aware or refused.type not in CAPACITY_CODES:
                    raise
                # No room after all (a race for the last cores, or no VMs behind the quota): wait.
                self._refused[plan.instance_type] = f"{refused.type} from ARM"
                if not resuming:  # a failed create may leave a Failed pool of that size behind
                    summary = f"delete the refused agent pool {plan.agent_pool}"
                    await self._steps.run_to_end(ActivityName.DELETE_AGENT_POOL, plan, type(None), summary)
                    self._created_pool = False
                plan = await self._secure_capacity(plan, resuming=resuming)
        self._kaito.pool_created(pool)
        if capacity_aware:
            await self._leave_queue(plan)
        return plan

    async def _serve(self) -> None:
        """Stay alive for the Workspace's lifetime: spec updates until delete; fresh history when long."""
        while True:
            health_seen = self._health_seen
            await workflow.wait_condition(
                lambda: (
                    self._delete_requested
                    or bool(self._pending_changes)
                    or self._suspend_request is not None
                    or self._health_seen != health_seen  # noqa: B023 (awaited in this iteration)
                    or self._evicted()
                    or workflow.info().is_continue_as_new_suggested()
                )
            )
            if self._delete_requested:
                return
            if self._evicted():
                await self._recover_from_eviction()
            elif self._health_seen != health_seen:
                await self._show_health()
            elif self._pending_changes:
                await self._apply_change(self._pending_changes.pop(0))
            elif self._suspend_request is not None:
                await self._suspend(self._suspend_request)
                await self._stay_suspended()
            else:
                await self._continue_as_new()

    # ---- spot --------------------------------------------------------------------------------------

    def _evicted(self) -> bool:
        """A Ready Spot workspace lost nodes (the controllers' node signal): Azure took the VMs back."""
        plan = self._plan
        return (
            plan is not None
            and plan.spot
            and self._phase == Phase.READY
            and self._nodes.ready < plan.node_count
        )

    async def _recover_from_eviction(self) -> None:
        """Back through the GPU wait: the pool is scaled up again, on Spot, or on demand after too many
        evictions in the window when the user allowed that."""
        plan = self._planned()
        now = workflow.now()
        self._bank_spot()
        self._carried.evictions.append(now)
        lost = f"{plan.node_count - self._nodes.ready} of {plan.node_count} Spot node(s) evicted"
        if too_many_evictions(self._carried.evictions, now) and spot_may_fall_back(self._ws):
            self._carried.spot_given_up = True
            await self._enter(Phase.CREATING_NODE_POOL, f"{lost}; moving to on-demand VMs")
            summary = f"delete Spot agent pool {plan.agent_pool} to recreate it on demand"
            await self._steps.run_to_end(ActivityName.DELETE_AGENT_POOL, plan, type(None), summary)
            self._created_pool = False
            self._plan = plan.model_copy(update={"spot": False})
        else:
            await self._enter(Phase.WAITING_FOR_NODES, f"{lost}; provisioning them again")
        await self._bring_up()

    async def _show_health(self) -> None:
        """While serving, the status follows the pods: a crash loop or OOM kill makes InferenceReady False
        with that reason; when every pod runs again the workspace is Ready again."""
        problem = self._pod_problem()
        shown = f"pod {problem.pod}: {problem.reason}: {problem.message}" if problem else None
        if shown == self._health_shown or self._serving is None:
            return
        self._health_shown = shown
        if problem is not None and problem.reason:
            self._kaito.inference_failing(problem.reason, f"pod {problem.pod}: {problem.message}")
            self._message = f"not serving: {shown}"
        else:
            self._kaito.serving(*self._serving)
            self._message = f"serving again at {self._serving[2]}"
        await self._write_status()

    async def _apply_change(self, new: Workspace) -> None:
        problems = check_update(self._ws, new)
        if problems:
            text = "; ".join(str(p) for p in problems)
            self._kaito.update_refused(text)
            self._message = f"update refused: {text}"
        else:
            self._ws = new
        await self._write_status()

    async def _continue_as_new(self) -> None:
        await self._status_written()  # a write behind the flow would be dropped with this run
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._ws, memo={CARRIED_MEMO: self._carried})

    # ---- scale to zero ----------------------------------------------------------------------------

    async def _suspend(self, request: SuspendRequest) -> None:
        """Workload to 0 replicas, pool to 0 nodes, wait for the nodes to go; keep spec, Service, pool."""
        plan = self._planned()
        self._bank_spot()
        await self._enter(Phase.SUSPENDING, f"scaling to zero: {request.reason}")
        await self._scale_to_zero(
            f"scale {plan.model} to 0 replicas", f"scale agent pool {plan.agent_pool} to 0 nodes"
        )
        what = f"the GPU nodes of {plan.agent_pool} to be released"
        await self._steps.wait_for(what, self._recount_nodes, self._nodes_left, plan.node_ready_timeout)
        if workflow.patched(WAKE_GATEWAY):
            try:
                summary = f"route Service {plan.name} to the wake gateway"
                await self._route(ActivityName.ROUTE_TO_GATEWAY, summary)
            except ApplicationError as failure:  # the GPUs are released all the same; callers get no wake
                workflow.logger.warning("the Service stays unrouted: %s", failure.message)
        self._carried.suspended = SuspendedState(since=workflow.now(), reason=request.reason)
        self._suspend_request = None
        self._replicas = WorkloadReadiness(ready_replicas=0)
        self._kaito.suspended(self._carried.suspended.since, request.reason)

    async def _stay_suspended(self) -> None:
        """Wait for resume or delete; a resume that fails leaves the workspace suspended, saying why."""
        suspended = self._carried.suspended
        assert suspended is not None
        self._created_pool = self._created_inference = True  # both exist, at zero, while suspended
        self._kaito.suspended(suspended.since, suspended.reason)
        await self._enter(
            Phase.SUSPENDED, f"scaled to zero since {suspended.since.isoformat(timespec='seconds')}"
        )
        while True:
            await workflow.wait_condition(
                lambda: (
                    self._delete_requested
                    or self._resume_requested
                    or workflow.info().is_continue_as_new_suggested()
                )
            )
            if self._delete_requested:
                raise DeleteRequested()
            if not self._resume_requested:
                await self._continue_as_new()
            if await self._resume():
                return

    async def _resume(self) -> bool:
        self._wake_estimate = self._bring_up_seconds()
        self._wake_started = workflow.now()
        self._end_suspension()
        await self._enter(Phase.RESUMING, "scaling the GPU pool back up")
        try:
            await self._bring_up()
        except ApplicationError as failure:
            await self._back_to_zero(failure)
            self._resume_requested = False
            return False
        self._kaito.resumed()
        self._resume_requested = False
        await self._write_status()
        return True

    async def _back_to_zero(self, failure: ApplicationError) -> None:
        """A failed resume must not leave GPUs running: scale back to zero and say why."""
        await self._scale_to_zero(
            "scale the workload back to 0", "scale the agent pool back to 0", to_end=True
        )
        if workflow.patched(WAKE_GATEWAY) and not self._carried.routed_to_gateway:
            summary = f"route Service {self._planned().name} back to the wake gateway"
            await self._route(ActivityName.ROUTE_TO_GATEWAY, summary, to_end=True)
        suspended = SuspendedState(since=workflow.now(), reason=f"resume failed: {failure.message}")
        self._carried.suspended = suspended
        await self._enter(Phase.SUSPENDED, f"resume failed, still suspended: {failure.message}")
        self._kaito.suspended(suspended.since, suspended.reason)
        await self._write_status()

    async def _scale_to_zero(self, workload_summary: str, pool_summary: str, *, to_end: bool = False) -> None:
        """Workload to 0 replicas first, then the pool to 0 nodes: the pool, its spec and the Service stay."""
        plan = self._planned()
        run = self._steps.run_to_end if to_end else self._steps.run
        await run(
            ActivityName.SCALE_INFERENCE, InferenceScale(plan=plan, replicas=0), type(None), workload_summary
        )
        await run(ActivityName.SCALE_AGENT_POOL, PoolScale(plan=plan, count=0), AgentPoolState, pool_summary)
        if workflow.patched(CAPACITY_AWARE):
            await self._wake_waiters(plan.instance_type)

    async def _route(self, to: ActivityName, summary: str, *, to_end: bool = False) -> None:
        """One routing step of the Service: to the wake gateway (suspend) or to the model (resume)."""
        run = self._steps.run_to_end if to_end else self._steps.run
        route = await run(to, self._planned(), GatewayRoute, summary)
        self._carried.routed_to_gateway = route.to_gateway

    def _bring_up_seconds(self) -> float | None:
        """How long the last bring-up took, phase by phase: the wake's expected time (None: never seen)."""
        spans = [self._timings.get(phase.value) for phase in BRING_UP_PHASES]
        done = [t.finished - t.started for t in spans if t is not None and t.finished is not None]
        return sum(d.total_seconds() for d in done) if done else None

    # ---- endings ----------------------------------------------------------------------------------

    async def _fail(self, failure: ApplicationError) -> None:
        """Record why, then remove whatever GPU capacity was created so a failure never keeps billing."""
        failed_in = self._phase
        self._kaito.failed(failed_in, failure)
        self._message = f"failed while {failed_in.value}: {failure.message}"
        await self._write_status()  # the cause reaches kubectl even when the cleanup below cannot run
        try:
            await self._remove_resources()
        except ApplicationError as cleanup:
            # Same cause as the failure (a refused credential, say): the workflow's failure names the
            # original error, and the status says what may be left.
            workflow.logger.warning("cleanup after the failure did not finish: %s", cleanup)
            failure = ApplicationError(
                f"{failure.message}; cleanup did not finish: {cleanup.message}", type=failure.type
            )
        await self._enter(Phase.FAILED, f"failed while {failed_in.value}: {failure.message}")

    async def _teardown(self) -> WorkspaceResult:
        self._resume_requested = False  # a resume in flight ends with the workspace's deletion
        self._kaito.deleting()
        await self._enter(Phase.DELETING, "removing the workload, the Service and the agent pool")
        await self._remove_resources()
        await self._enter(Phase.DELETED, "nothing of this workspace is left in Azure or the cluster")
        if self._plan is not None:
            summary = "delete the Workspace object"
            await self._steps.run_to_end(ActivityName.DELETE_OBJECT, self._ws, type(None), summary)
        return WorkspaceResult(phase=Phase.DELETED, message=self._message)

    async def _remove_resources(self) -> None:
        plan = self._plan
        if plan is None:
            return
        if self._created_inference:
            summary = "delete the workload and Service"
            await self._steps.run_to_end(ActivityName.DELETE_INFERENCE, plan, type(None), summary)
        if self._created_pool:
            summary = f"delete agent pool {plan.agent_pool}"
            await self._steps.run_to_end(ActivityName.DELETE_AGENT_POOL, plan, type(None), summary)
            if workflow.patched(CAPACITY_AWARE):
                await self._wake_waiters(plan.instance_type)

    # ---- commands: delete, spec changes, scale to zero and back ----------------------------------

    @workflow.signal(name=SignalName.DELETE)
    def delete(self) -> None:
        self._delete_requested = True

    @workflow.signal(name=SignalName.SPEC_CHANGED)
    def spec_changed(self, change: SpecChange) -> None:
        self._pending_changes.append(change.workspace)

    @workflow.signal(name=SignalName.SUSPEND)
    def suspend(self, request: SuspendRequest) -> None:
        """Only a Ready workspace scales to zero; anything else ignores the request. BYO nodes are the
        user's, with no pool to release, so a BYO workspace ignores it too."""
        byo = self._plan is not None and self._plan.bring_your_own_nodes
        if self._phase == Phase.READY and self._suspend_request is None and not byo:
            self._suspend_request = request

    @workflow.update(name=UpdateName.RESUME)
    async def resume(self) -> WorkspaceStatus:
        """Bring a suspended workspace back; answers once it is Ready again, waits for capacity, or says
        why it is not."""
        self._resume_requested = True
        await workflow.wait_condition(
            lambda: (
                (not self._resume_requested and self._phase not in (Phase.SUSPENDING, Phase.RESUMING))
                or self._phase == Phase.WAITING_FOR_CAPACITY  # answered now: the status says for what
            )
        )
        return self.status()

    @resume.validator
    def _resume_allowed(self) -> None:
        if self._phase not in (Phase.SUSPENDED, Phase.SUSPENDING):
            raise ValueError(
                f"workspace {self._ws.namespace}/{self._ws.name} is {self._phase.value}, not Suspended"
            )

    @workflow.update(name=UpdateName.WAKE)
    async def wake(self, request: WakeRequest) -> WakeAnswer:
        """The wake gateway's: resume a suspended workspace (once, however many callers ask) and answer
        once it is Ready, or why it is not (a failed resume, a delete). Ready already: answered at once."""
        if self._phase in (Phase.SUSPENDED, Phase.SUSPENDING) and not self._resume_requested:
            self._resume_requested = True
            self._carried.woken_at = self._carried.last_traffic_at = workflow.now()  # the wake is traffic
            workflow.logger.info("woken: %s", request.reason)
        await workflow.wait_condition(
            lambda: (
                self._phase in (Phase.READY, Phase.FAILED, Phase.DELETING, Phase.DELETED)
                or self._delete_requested
                or (self._phase == Phase.SUSPENDED and not self._resume_requested)
            )
        )
        return self.wake_status()

    @wake.validator
    def _wake_allowed(self, request: WakeRequest) -> None:
        if self._phase in (Phase.FAILED, Phase.DELETING, Phase.DELETED) or self._delete_requested:
            raise ValueError(f"workspace {self._ws.namespace}/{self._ws.name} is {self._phase.value}")

    @workflow.query(name=WAKE_QUERY)
    def wake_status(self) -> WakeAnswer:
        """What a caller of the wake gateway is told: Ready, or the phase, why and the expected wait."""
        ready = self._phase == Phase.READY and not self._delete_requested
        if self._delete_requested or self._phase in (Phase.DELETING, Phase.DELETED):
            reason = f"workspace {self._ws.namespace}/{self._ws.name} is being deleted"
        elif self._phase == Phase.SUSPENDED and self._carried.suspended is not None:
            reason = self._carried.suspended.reason
        else:
            reason = self._message
        eta = None
        if not ready and self._resume_requested and self._wake_estimate is not None:
            eta = max(0.0, self._wake_estimate - (workflow.now() - self._wake_started).total_seconds())
        elif self._phase == Phase.SUSPENDED:
            eta = self._bring_up_seconds()
        answer = WakeAnswer(phase=self._phase, ready=ready, reason=reason, endpoint=self._endpoint)
        return answer.model_copy(update={"eta_seconds": eta})
