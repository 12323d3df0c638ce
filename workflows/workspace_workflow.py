"""The workspace workflow: one long-lived entity per KAITO Workspace, id `workspace/<ns>/<name>`.

It decides; activities act. The ~10-minute GPU wait is a durable wait on the controllers' signals with
a timer as the deadline and a reconcile activity at its start and at its end, so no worker slot is held
while Azure boots VMs. Every phase change updates the query, the search attributes, the UI's current
details and the Workspace's status conditions, so kubectl and the Temporal UI tell the same story.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import conditions as cond
    from workflows import search_attributes as sa
    from workflows.workspace_contracts import (
        STATUS_QUERY,
        WORKSPACE_WORKFLOW,
        ActivityName,
        AgentPoolState,
        CarriedState,
        HealthReport,
        InferenceObjects,
        InferenceScale,
        NodeReadiness,
        Phase,
        PhaseTiming,
        PoolScale,
        ProvisioningPlan,
        SignalName,
        SpecChange,
        StatusUpdate,
        SuspendedState,
        SuspendRequest,
        TrafficObserved,
        UpdateName,
        WorkloadReadiness,
        WorkspaceResult,
        WorkspaceStatus,
    )
    from workflows.workspace_spec import Workspace
    from workflows.workspace_validation import check_update

T = TypeVar("T")

# Transient failures (429, 5xx, a dropped connection) retry with backoff; activities mark what no retry
# can fix (invalid spec, quota, authorization) non-retryable themselves.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1)
)
SHORT = timedelta(minutes=1)
STATUS_WRITE_BUDGET = timedelta(minutes=2)
CARRIED_MEMO = "kaito-carried"


class _DeleteRequested(Exception):
    """Unwinds whatever step is running when the delete signal arrives."""


@workflow.defn(name=WORKSPACE_WORKFLOW)
class WorkspaceWorkflow:
    @workflow.init
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        # A continued-as-new run finds what it must not forget in the memo; the input stays the manifest.
        self._carried = workflow.memo_value(CARRIED_MEMO, CarriedState(), type_hint=CarriedState)
        self._suspend_request: SuspendRequest | None = None
        self._resume_requested = False
        self._plan: ProvisioningPlan | None = None
        self._phase = Phase.PENDING
        self._state = cond.STATE_PENDING
        self._message = ""
        self._conditions = cond.ConditionBook()
        self._timings: dict[str, PhaseTiming] = {}
        self._nodes = NodeReadiness(ready=0)
        self._replicas = WorkloadReadiness(ready_replicas=0)
        self._endpoint: str | None = None
        self._delete_requested = False
        self._pending_changes: list[Workspace] = []
        self._created_pool = False
        self._created_inference = False

    # ---- messages -------------------------------------------------------------------------------

    @workflow.signal(name=SignalName.NODES_READY)
    def nodes_ready(self, readiness: NodeReadiness) -> None:
        """Absolute counts: the newest observation wins, duplicates and stale repeats change nothing."""
        self._nodes = _newer(self._nodes, readiness)

    @workflow.signal(name=SignalName.INFERENCE_READY)
    def inference_ready(self, readiness: WorkloadReadiness) -> None:
        self._replicas = readiness

    @workflow.signal(name=SignalName.DELETE)
    def delete(self) -> None:
        self._delete_requested = True

    @workflow.signal(name=SignalName.SPEC_CHANGED)
    def spec_changed(self, change: SpecChange) -> None:
        self._pending_changes.append(change.workspace)

    @workflow.signal(name=SignalName.SUSPEND)
    def suspend(self, request: SuspendRequest) -> None:
        """Only a Ready workspace scales to zero; anything else ignores the request."""
        if self._phase == Phase.READY and self._suspend_request is None:
            self._suspend_request = request

    @workflow.signal(name=SignalName.TRAFFIC_OBSERVED)
    def traffic_observed(self, traffic: TrafficObserved) -> None:
        last = self._carried.last_traffic_at
        if last is None or traffic.at > last:
            self._carried.last_traffic_at = traffic.at

    @workflow.update(name=UpdateName.RESUME)
    async def resume(self) -> WorkspaceStatus:
        """Bring a suspended workspace back; answers once it is Ready again (or why it is not)."""
        self._resume_requested = True
        await workflow.wait_condition(
            lambda: not self._resume_requested and self._phase not in (Phase.SUSPENDING, Phase.RESUMING)
        )
        return self.status()

    @resume.validator
    def _resume_allowed(self) -> None:
        if self._phase not in (Phase.SUSPENDED, Phase.SUSPENDING):
            raise ValueError(
                f"workspace {self._ws.namespace}/{self._ws.name} is {self._phase.value}, not Suspended"
            )

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> WorkspaceStatus:
        plan = self._plan
        return WorkspaceStatus(
            namespace=self._ws.namespace,
            name=self._ws.name,
            phase=self._phase,
            state=self._state,
            message=self._message,
            model=self._ws.preset_name,
            served_model=plan.served_model_name if plan else None,
            instance_type=self._ws.resource.instance_type,
            agent_pool=plan.agent_pool if plan else None,
            target_nodes=plan.node_count if plan else 0,
            ready_nodes=self._nodes.ready,
            worker_nodes=self._nodes.nodes,
            ready_replicas=self._replicas.ready_replicas,
            endpoint=self._endpoint,
            conditions=self._conditions.all(),
            timings=self._timings,
            warnings=plan.warnings if plan else [],
            suspended_since=self._carried.suspended.since if self._carried.suspended else None,
            last_traffic_at=self._carried.last_traffic_at,
            gpu_hours_saved=round(self._carried.gpu_hours_saved + self._ongoing_savings()[0], 3),
            usd_saved=round(self._carried.usd_saved + self._ongoing_savings()[1], 2),
        )

    def _ongoing_savings(self) -> tuple[float, float]:
        """GPU-hours and dollars the current suspension has saved so far."""
        plan, suspended = self._plan, self._carried.suspended
        if plan is None or suspended is None:
            return 0.0, 0.0
        hours = max((workflow.now() - suspended.since).total_seconds(), 0.0) / 3600
        return hours * plan.node_count * (plan.gpus_per_node or 1), hours * plan.node_count * (
            plan.hourly_usd or 0
        )

    # ---- the flow ---------------------------------------------------------------------------------

    @workflow.run
    async def run(self, workspace: Workspace) -> WorkspaceResult:
        workflow.upsert_search_attributes(
            [
                sa.WORKSPACE.value_set(workspace.name),
                sa.NAMESPACE.value_set(workspace.namespace),
                sa.MODEL.value_set(workspace.preset_name or ""),
                sa.INSTANCE_TYPE.value_set(workspace.resource.instance_type or ""),
            ]
        )
        try:
            await self._validate()
            if self._carried.suspended:
                await self._stay_suspended()
            else:
                await self._bring_up()
            await self._serve()
        except _DeleteRequested:
            pass
        except ApplicationError as failure:
            await self._fail(failure)
            raise
        return await self._teardown()

    async def _validate(self) -> None:
        await self._enter(Phase.VALIDATING, "checking the spec against the presets and GPU catalog")
        plan = await self._step(ActivityName.VALIDATE, self._ws, ProvisioningPlan, SHORT, "validate the spec")
        # Whichever door the user came in by, there is one Workspace object: create it when missing.
        uid = await self._step(
            ActivityName.ENSURE_OBJECT, self._ws, str, SHORT, "ensure the Workspace object exists"
        )
        plan = plan.model_copy(update={"uid": uid or None})
        self._plan = plan
        now = workflow.now()
        for type_ in (
            cond.NODE_CLAIM_READY,
            cond.RESOURCE_READY,
            cond.INFERENCE_READY,
            cond.WORKSPACE_SUCCEEDED,
        ):
            self._conditions.set(type_, cond.UNKNOWN, "workspacePending", "provisioning has started", now)

    async def _bring_up(self) -> None:
        """Pool → GPU nodes → workload → model loaded → health: the first time, and on every resume."""
        plan = self._plan
        assert plan is not None
        pool_text = f"{plan.node_count} × {plan.instance_type} as agent pool {plan.agent_pool}"
        await self._enter(Phase.CREATING_NODE_POOL, f"creating {pool_text}")
        self._created_pool = True
        pool = await self._step(
            ActivityName.ENSURE_AGENT_POOL,
            plan,
            AgentPoolState,
            timedelta(minutes=30),
            f"create {pool_text}",
            heartbeat=timedelta(minutes=2),
        )
        self._conditions.set(
            cond.NODE_CLAIM_READY,
            cond.TRUE,
            "NodeClaimsReady",
            f"agent pool {pool.name}: {pool.count} × {pool.vm_size} {pool.provisioning_state}",
            workflow.now(),
        )

        await self._enter(Phase.WAITING_FOR_NODES, f"waiting for {plan.node_count} GPU node(s) to be Ready")
        await self._wait_for(
            what=f"{plan.node_count} Ready {plan.instance_type} node(s) with nvidia.com/gpu",
            reconcile=ActivityName.COUNT_READY_NODES,
            result_type=NodeReadiness,
            absorb=self.nodes_ready,
            enough=lambda: self._nodes.ready >= plan.node_count,
            progress=lambda: f"{self._nodes.ready}/{plan.node_count} nodes Ready",
            deadline=plan.node_ready_timeout,
        )
        now = workflow.now()
        ready_text = f"{self._nodes.ready} node(s) Ready: {', '.join(self._nodes.nodes)}"
        self._conditions.set(cond.NODES_READY, cond.TRUE, "NodesReady", ready_text, now)
        self._conditions.set(
            cond.RESOURCE_READY, cond.TRUE, "workspaceResourceStatusSuccess", ready_text, now
        )

        await self._enter(Phase.DEPLOYING, f"deploying {plan.model} ({plan.runtime}) and its Service")
        self._created_inference = True
        objects = await self._step(
            ActivityName.ENSURE_INFERENCE,
            plan,
            InferenceObjects,
            SHORT,
            f"apply Service and {plan.model} workload",
        )
        self._endpoint = objects.endpoint

        await self._enter(Phase.WAITING_FOR_INFERENCE, f"waiting for {plan.model} to load")
        await self._wait_for(
            what=f"{plan.node_count} ready replica(s) of {plan.model}",
            reconcile=ActivityName.COUNT_READY_REPLICAS,
            result_type=WorkloadReadiness,
            absorb=self.inference_ready,
            enough=lambda: self._replicas.ready_replicas >= plan.node_count,
            progress=lambda: f"{self._replicas.ready_replicas}/{plan.node_count} replicas ready",
            deadline=plan.inference_ready_timeout,
        )

        await self._enter(Phase.HEALTH_CHECKING, f"GET /health and one chat completion via {objects.service}")
        health = await self._step(
            ActivityName.CHECK_HEALTH,
            plan,
            HealthReport,
            SHORT,
            "health check through the Service",
            retry=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=10),
        )
        now = workflow.now()
        self._conditions.set(
            cond.INFERENCE_READY,
            cond.TRUE,
            "WorkspaceInferenceStatusSuccess",
            f"{health.model} answered through {objects.service}",
            now,
        )
        self._conditions.set(
            cond.WORKSPACE_SUCCEEDED, cond.TRUE, "workspaceSucceeded", f"serving at {objects.endpoint}", now
        )
        self._state = cond.STATE_READY
        await self._enter(Phase.READY, f"serving {plan.served_model_name} at {objects.endpoint}")

    async def _serve(self) -> None:
        """Stay alive for the Workspace's lifetime: spec updates until delete; fresh history when long."""
        while True:
            await workflow.wait_condition(
                lambda: (
                    self._delete_requested
                    or bool(self._pending_changes)
                    or self._suspend_request is not None
                    or workflow.info().is_continue_as_new_suggested()
                )
            )
            if self._delete_requested:
                return
            if self._pending_changes:
                await self._apply_change(self._pending_changes.pop(0))
                continue
            if self._suspend_request is not None:
                await self._suspend(self._suspend_request)
                await self._stay_suspended()
                continue
            await self._continue_as_new()

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._ws, memo={CARRIED_MEMO: self._carried})

    # ---- scale to zero ----------------------------------------------------------------------------

    async def _suspend(self, request: SuspendRequest) -> None:
        """Workload to 0 replicas, pool to 0 nodes, wait for the nodes to go; keep spec, Service, pool."""
        plan = self._plan
        assert plan is not None
        await self._enter(Phase.SUSPENDING, f"scaling to zero: {request.reason}")
        await self._step(
            ActivityName.SCALE_INFERENCE, InferenceScale(plan=plan, replicas=0), type(None), SHORT,
            f"scale {plan.model} to 0 replicas",
        )  # fmt: skip
        await self._step(
            ActivityName.SCALE_AGENT_POOL, PoolScale(plan=plan, count=0), AgentPoolState,
            timedelta(minutes=30),
            f"scale agent pool {plan.agent_pool} to 0 nodes", heartbeat=timedelta(minutes=2),
        )  # fmt: skip
        await self._wait_for(
            what=f"the GPU nodes of {plan.agent_pool} to be released",
            reconcile=ActivityName.COUNT_READY_NODES, result_type=NodeReadiness, absorb=self.nodes_ready,
            enough=lambda: self._nodes.ready == 0, progress=lambda: f"{self._nodes.ready} nodes left",
            deadline=plan.node_ready_timeout,
        )  # fmt: skip
        now = workflow.now()
        self._carried.suspended = SuspendedState(since=now, reason=request.reason)
        self._suspend_request = None
        self._replicas = WorkloadReadiness(ready_replicas=0)
        self._mark_suspended(now, request.reason)

    def _mark_suspended(self, since: datetime, reason: str) -> None:
        now = workflow.now()
        text = (
            f"since {since.isoformat(timespec='seconds')}: {reason}; resume with `kaitoctl workspace resume`"
        )
        self._conditions.set(cond.SUSPENDED, cond.TRUE, "ScaledToZero", text, now)
        self._conditions.set(
            cond.RESOURCE_READY, cond.FALSE, "WorkspaceSuspended", "the GPU pool is at 0", now
        )
        self._conditions.set(cond.INFERENCE_READY, cond.FALSE, "WorkspaceSuspended", "0 replicas", now)
        self._state = cond.STATE_SUSPENDED

    async def _stay_suspended(self) -> None:
        """Wait for resume or delete; a resume that fails leaves the workspace suspended, saying why."""
        suspended = self._carried.suspended
        assert suspended is not None
        self._created_pool = self._created_inference = True  # both exist, at zero, while suspended
        self._mark_suspended(suspended.since, suspended.reason)
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
                raise _DeleteRequested()
            if not self._resume_requested:
                await self._continue_as_new()
            if await self._resume():
                return

    async def _resume(self) -> bool:
        hours, dollars = self._ongoing_savings()
        self._carried.gpu_hours_saved += hours
        self._carried.usd_saved += dollars
        self._carried.suspended = None
        await self._enter(Phase.RESUMING, "scaling the GPU pool back up")
        try:
            await self._bring_up()
        except ApplicationError as failure:
            await self._back_to_zero(failure)
            self._resume_requested = False
            return False
        self._conditions.set(cond.SUSPENDED, cond.FALSE, "Resumed", "serving again", workflow.now())
        self._resume_requested = False
        await self._write_status()
        return True

    async def _back_to_zero(self, failure: ApplicationError) -> None:
        """A failed resume must not leave GPUs running: scale back to zero and say why."""
        plan = self._plan
        assert plan is not None
        await self._step(
            ActivityName.SCALE_INFERENCE, InferenceScale(plan=plan, replicas=0), type(None), SHORT,
            "scale the workload back to 0", interruptible=False,
        )  # fmt: skip
        await self._step(
            ActivityName.SCALE_AGENT_POOL, PoolScale(plan=plan, count=0), AgentPoolState,
            timedelta(minutes=30),
            "scale the agent pool back to 0", heartbeat=timedelta(minutes=2), interruptible=False,
        )  # fmt: skip
        self._carried.suspended = SuspendedState(since=workflow.now(), reason=f"resume failed: {failure}")
        await self._enter(Phase.SUSPENDED, f"resume failed, still suspended: {failure}")
        self._mark_suspended(self._carried.suspended.since, self._carried.suspended.reason)
        await self._write_status()

    async def _apply_change(self, new: Workspace) -> None:
        problems = check_update(self._ws, new)
        if problems:
            text = "; ".join(str(p) for p in problems)
            self._conditions.set(
                cond.WORKSPACE_SUCCEEDED,
                cond.TRUE,
                "SpecUpdateRejected",
                f"update refused, still serving the previous spec: {text}",
                workflow.now(),
            )
            self._message = f"update refused: {text}"
        else:
            self._ws = new
        await self._write_status()

    # ---- waiting ----------------------------------------------------------------------------------

    async def _wait_for(
        self,
        *,
        what: str,
        reconcile: ActivityName,
        result_type: type[T],
        absorb: Callable[[T], None],
        enough: Callable[[], bool],
        progress: Callable[[], str],
        deadline: timedelta,
    ) -> None:
        """Signal-driven wait: reconcile once, wait up to the deadline, reconcile once more, then give up."""
        assert self._plan is not None
        absorb(await self._step(reconcile, self._plan, result_type, SHORT, f"reconcile: count {what}"))
        if enough():
            return
        try:
            await workflow.wait_condition(
                lambda: enough() or self._delete_requested,
                timeout=deadline,
                timeout_summary=f"deadline for {what}",
            )
        except TimeoutError:
            absorb(await self._step(reconcile, self._plan, result_type, SHORT, f"deadline reconcile: {what}"))
        if self._delete_requested:
            raise _DeleteRequested()
        if not enough():
            raise ApplicationError(
                f"gave up after {_duration(deadline)} waiting for {what}: {progress()}",
                type="DeadlineExceeded",
                non_retryable=True,
            )

    async def _step(
        self,
        name: str,
        arg: Any,
        result_type: type[T],
        timeout: timedelta,
        summary: str,
        *,
        heartbeat: timedelta | None = None,
        retry: RetryPolicy = RETRY,
        interruptible: bool = True,
    ) -> T:
        """Run one activity; a delete signal abandons it (cancelled) and unwinds to the teardown."""
        if interruptible and self._delete_requested:
            raise _DeleteRequested()
        handle = workflow.start_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=timeout,
            heartbeat_timeout=heartbeat,
            retry_policy=retry,
            summary=summary,
        )
        if interruptible:
            await workflow.wait_condition(lambda: handle.done() or self._delete_requested)
            if not handle.done():
                handle.cancel()
                raise _DeleteRequested()
        try:
            result: T = await handle
            return result
        except ActivityError as err:
            cause = err.cause
            reason = cause.type if isinstance(cause, ApplicationError) and cause.type else "ActivityFailed"
            message = str(cause) if cause else str(err)
            raise ApplicationError(f"{summary}: {message}", type=reason, non_retryable=True) from err

    # ---- endings ----------------------------------------------------------------------------------

    async def _fail(self, failure: ApplicationError) -> None:
        """Record why, then remove whatever GPU capacity was created so a failure never keeps billing."""
        failed_in = self._phase
        now = workflow.now()
        self._conditions.set(
            cond.WORKSPACE_SUCCEEDED, cond.FALSE, failure.type or "workspaceFailed", str(failure), now
        )
        if failed_in == Phase.WAITING_FOR_NODES:
            self._conditions.set(
                cond.RESOURCE_READY, cond.FALSE, "workspaceResourceStatusNotReady", str(failure), now
            )
        if failed_in in (Phase.WAITING_FOR_INFERENCE, Phase.HEALTH_CHECKING):
            self._conditions.set(
                cond.INFERENCE_READY, cond.FALSE, "WorkspaceInferenceStatusFailed", str(failure), now
            )
        self._state = cond.STATE_FAILED
        self._message = f"failed while {failed_in.value}: {failure}"
        await self._write_status()  # the cause reaches kubectl even when the cleanup below cannot run
        try:
            await self._remove_resources()
        except ApplicationError as cleanup:
            # Same cause as the failure (a refused credential, say): the workflow's failure names the
            # original error, and the status says what may be left.
            workflow.logger.warning("cleanup after the failure did not finish: %s", cleanup)
            failure = ApplicationError(f"{failure}; cleanup did not finish: {cleanup}", type=failure.type)
        await self._enter(Phase.FAILED, f"failed while {failed_in.value}: {failure}")

    async def _teardown(self) -> WorkspaceResult:
        self._resume_requested = False  # a resume in flight ends with the workspace's deletion
        self._state = cond.STATE_DELETING
        self._conditions.set(
            cond.WORKSPACE_DELETING, cond.TRUE, "workspaceDeleted", "tearing down", workflow.now()
        )
        await self._enter(Phase.DELETING, "removing the workload, the Service and the agent pool")
        await self._remove_resources()
        await self._enter(Phase.DELETED, "nothing of this workspace is left in Azure or the cluster")
        if self._plan is not None:
            await self._step(
                ActivityName.DELETE_OBJECT,
                self._ws,
                type(None),
                SHORT,
                "delete the Workspace object",
                interruptible=False,
            )
        return WorkspaceResult(phase=Phase.DELETED, message=self._message)

    async def _remove_resources(self) -> None:
        plan = self._plan
        if plan is None:
            return
        if self._created_inference:
            await self._step(
                ActivityName.DELETE_INFERENCE,
                plan,
                type(None),
                SHORT,
                "delete the workload and Service",
                interruptible=False,
            )
        if self._created_pool:
            await self._step(
                ActivityName.DELETE_AGENT_POOL,
                plan,
                type(None),
                timedelta(minutes=30),
                f"delete agent pool {plan.agent_pool}",
                heartbeat=timedelta(minutes=2),
                interruptible=False,
            )

    # ---- book-keeping -----------------------------------------------------------------------------

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

    async def _write_status(self) -> None:
        """Best effort: the query stays authoritative when the cluster cannot be written for a while."""
        update = StatusUpdate(
            namespace=self._ws.namespace,
            name=self._ws.name,
            state=self._state,
            conditions=self._conditions.all(),
            worker_nodes=self._nodes.nodes,
            target_node_count=self._plan.node_count if self._plan else None,
        )
        try:
            await workflow.execute_activity(
                ActivityName.WRITE_STATUS,
                update,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=STATUS_WRITE_BUDGET,
                retry_policy=RETRY,
                summary=f"status: {self._phase.value}",
            )
        except ActivityError as err:
            workflow.logger.warning("could not write the Workspace status: %s", err.cause or err)


def _newer(current: NodeReadiness, incoming: NodeReadiness) -> NodeReadiness:
    if current.observed_at and incoming.observed_at and incoming.observed_at < current.observed_at:
        return current
    return incoming


def _duration(value: timedelta) -> str:
    minutes, seconds = divmod(int(value.total_seconds()), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
