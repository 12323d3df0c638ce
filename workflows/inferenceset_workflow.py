"""The InferenceSet workflow: one per KAITO InferenceSet, id `inferenceset/<ns>/<name>`; it owns the
workspace workflows of its replicas.

Each replica is a Workspace named as KAITO names them (`<set>-` and five characters), run by its own
`WorkspaceWorkflow` (id `workspace/<ns>/<name>`) started as a child workflow, which creates the
Workspace object and provisions it as any Workspace. The set changes one replica at a time and waits
for it to settle before the next: a new replica or a resumed one until Ready, a suspended one until
Suspended, a deleted one until its workflow has ended. Scaling down removes replicas that are not
Ready first, as KAITO does. `replicas: 0` suspends every replica (node pool and workload at zero, spec,
Service and pool kept) instead of deleting it, and scaling up resumes suspended replicas before it
creates new ones. `nodeCountLimit` caps the replicas that serve at the GPU nodes it allows.

Children are started with the ABANDON close policy and addressed by id, so a continued-as-new run (or
a restarted worker) keeps owning them; the replica list is carried in a memo. A replica's phase is read
by an activity (the children's status query), when the controller signals that a replica's Workspace
changed and, as a backstop, on a timer.
"""

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, FailureError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.activity_options import start_activity
    from workflows.inferenceset_contracts import (
        CONDITION_AUTOSCALING,
        CONDITION_DELETING,
        CONDITION_NODE_LIMIT,
        CONDITION_READY,
        CONDITION_SUSPENDED,
        INFERENCESET_WORKFLOW,
        OPTIONS,
        STATUS_QUERY,
        ActivityName,
        CarriedReplicas,
        InferenceSetResult,
        InferenceSetStatus,
        Observed,
        ObserveRequest,
        Replica,
        ResumeRequest,
        SetPlan,
        SetStatusUpdate,
        SignalName,
        Validation,
        Want,
        WorkspaceChanged,
        set_input,
    )
    from workflows.inferenceset_spec import (
        REPLICA_SUFFIX_ALPHABET,
        REPLICA_SUFFIX_LENGTH,
        InferenceSet,
        replica_name,
        replica_workspace,
        selector_of,
    )
    from workflows.workspace_contracts import WORKSPACE_WORKFLOW, Condition, Phase, SpecChange, SuspendRequest
    from workflows.workspace_contracts import ActivityName as WorkspaceActivity
    from workflows.workspace_contracts import SignalName as WorkspaceSignal
    from workflows.workspace_spec import workflow_id_for as workspace_workflow_id

CARRIED_MEMO = "kaito-inferenceset-carried"
# Backstops for a lost signal; the controller's workspace-changed signal is what normally wakes the set.
RECHECK_IN_FLIGHT = timedelta(seconds=10)
RECHECK_SETTLED = timedelta(minutes=10)
SETTLED_PHASES = (Phase.READY, Phase.FAILED)


def _in_flight(replica: Replica) -> bool:
    """Still on its way to what the set wants of it."""
    if replica.closed is not None:
        return False
    if replica.want == Want.SERVE:
        return replica.phase not in SETTLED_PHASES
    if replica.want == Want.SUSPEND:
        return replica.phase not in (Phase.SUSPENDED, Phase.FAILED)
    return True  # a delete is in flight until the workflow ends


def _ready(replica: Replica) -> bool:
    return replica.want == Want.SERVE and replica.closed is None and replica.phase == Phase.READY


def _removal_order(replica: Replica) -> int:
    """Not-ready replicas go first (failed, then on their way up), Ready ones last, as KAITO chooses."""
    if replica.closed is not None or replica.phase == Phase.FAILED:
        return 0
    return 2 if replica.phase == Phase.READY else 1


@workflow.defn(name=INFERENCESET_WORKFLOW)
class InferenceSetWorkflow:
    @workflow.init
    def __init__(self, iset: InferenceSet) -> None:
        self._iset = iset
        carried = workflow.memo_value(CARRIED_MEMO, CarriedReplicas(), type_hint=CarriedReplicas)
        self._replicas: list[Replica] = list(carried.replicas)
        self._plan: SetPlan | None = None
        self._problems: list[str] = []
        self._pending: InferenceSet | None = None
        self._delete_requested = False
        self._nudged = False
        self._objects_gone: set[str] = set()
        self._conditions: dict[str, Condition] = {}
        self._written: dict[str, Any] | None = None
        self._deleted = False

    @workflow.run
    async def run(self, iset: InferenceSet) -> InferenceSetResult:
        await self._validate()
        while not self._delete_requested:
            acted = await self._step()
            if self._delete_requested:
                break
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
                break  # reached only when a delete arrived meanwhile
            if not acted:
                await self._wait(RECHECK_IN_FLIGHT if self._busy() else RECHECK_SETTLED)
            if self._pending is not None:
                await self._apply_change(self._pending)
        return await self._teardown()

    # ---- the loop: observe, take one action, show the status ---------------------------------------

    async def _step(self) -> bool:
        self._nudged = False  # a nudge from here on (during the observation, say) means: look again
        await self._observe()
        acted = await self._act() if self._plan is not None else False
        await self._write_status()
        return acted

    async def _continue_as_new(self) -> None:
        """A fresh history that keeps the replicas (a memo) and the newest spec, unless a delete came."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._delete_requested:
            return
        carried = CarriedReplicas(replicas=self._replicas)
        workflow.continue_as_new(set_input(self._pending or self._iset), memo={CARRIED_MEMO: carried})

    async def _wait(self, timeout: timedelta) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    self._delete_requested
                    or self._nudged
                    or self._pending is not None
                    or workflow.info().is_continue_as_new_suggested()
                ),
                timeout=timeout,
                timeout_summary="look at the replicas again",
            )

    async def _validate(self) -> None:
        answer = await self._activity(ActivityName.VALIDATE, set_input(self._iset), Validation, "validate")
        self._plan, self._problems = answer.plan, answer.problems

    async def _apply_change(self, new: InferenceSet) -> None:
        self._pending = None
        old = self._iset
        self._iset = new
        await self._validate()
        if self._plan is None:
            return
        same_template = old.spec.template == new.spec.template and (
            old.spec.label_selector == new.spec.label_selector
        )
        if same_template:
            return
        # Each replica's workflow applies its own immutability rules, as for any Workspace update.
        for replica in self._replicas:
            if replica.closed is None and replica.want != Want.DELETE:
                change = SpecChange(workspace=replica_workspace(new, replica.name))
                await self._signal(replica, WorkspaceSignal.SPEC_CHANGED, change)

    async def _observe(self) -> None:
        if not self._replicas:
            return
        request = ObserveRequest(namespace=self._iset.namespace, names=[r.name for r in self._replicas])
        observed = await self._activity(ActivityName.OBSERVE, request, Observed, "read the replicas' phases")
        states = {state.name: state for state in observed.replicas}
        for replica in self._replicas:
            state = states.get(replica.name)
            if state is not None:
                replica.phase, replica.closed, replica.message = state.phase, state.closed, state.message
        # A replica whose workflow completed was deleted (by the set or by a user): it is gone. So is one
        # whose workflow had ended (failed) when a user deleted its Workspace object.
        self._replicas = [
            r
            for r in self._replicas
            if r.closed not in ("Completed", "NotFound") and not (r.closed and r.name in self._objects_gone)
        ]
        self._objects_gone &= {r.name for r in self._replicas}

    def _busy(self) -> bool:
        return any(_in_flight(r) for r in self._replicas)

    def serving_limit(self) -> int | None:
        """How many replicas `nodeCountLimit` lets serve (None: no limit)."""
        limit = self._iset.spec.node_count_limit
        if not limit or self._plan is None:
            return None
        return limit // self._plan.nodes_per_replica

    def _target(self) -> int:
        limit = self.serving_limit()
        desired = self._iset.replicas
        return desired if limit is None else min(desired, limit)

    async def _act(self) -> bool:
        """At most one change to one replica; True when something was done."""
        ended = [r for r in self._replicas if r.want == Want.DELETE and r.closed is not None]
        if ended:  # asked to go while its workflow was failing: only its Workspace object is left
            await self._delete(ended[0])
            return True
        target = self._target()
        serving = [r for r in self._replicas if r.want == Want.SERVE]
        removing = any(_in_flight(r) for r in self._replicas if r.want != Want.SERVE)
        if len(serving) > target:
            if removing:
                return False
            victim = sorted(serving, key=_removal_order)[0]
            failed = _removal_order(victim) == 0
            if target == 0 and not failed:
                if victim.phase != Phase.READY:
                    return False  # suspend it once it is Ready: one that is coming up cannot be suspended
                await self._suspend(victim)
            else:
                await self._delete(victim)
            return True
        if len(serving) < target:
            if self._busy():
                return False
            suspended = [r for r in self._replicas if r.want == Want.SUSPEND and r.closed is None]
            if suspended:
                await self._resume(suspended[0])
            else:
                await self._create()
            return True
        return await self._converge()

    async def _converge(self) -> bool:
        """Re-send what a replica missed (a suspend it ignored, a resume that did not take), then wait
        for it to move: False, so that a replica slow to take the request is not asked again at once."""
        for replica in self._replicas:
            if replica.closed is not None:
                continue
            if replica.want == Want.SUSPEND and replica.phase == Phase.READY:
                await self._suspend(replica)
                return False
            if replica.want == Want.SERVE and replica.phase == Phase.SUSPENDED:
                await self._resume(replica)
                return False
        return False

    # ---- the actions ------------------------------------------------------------------------------

    async def _create(self) -> None:
        taken = {r.name for r in self._replicas}
        name = self._new_name(taken)
        ws = replica_workspace(self._iset, name)
        attributes = TypedSearchAttributes([*sa.of_workspace(ws), SearchAttributePair(sa.PHASE, "Pending")])
        try:
            child = await workflow.start_child_workflow(
                WORKSPACE_WORKFLOW,
                ws,
                id=workspace_workflow_id(ws.namespace, name),
                task_queue=workflow.info().task_queue,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=attributes,
                static_summary=f"replica of InferenceSet {self._iset.namespace}/{self._iset.name}",
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.warning(
                "workspace %s/%s already exists; another name next time", ws.namespace, name
            )
            return
        # Its end (deleted, or failed) is an event of this run too: look at the replicas again then.
        child.add_done_callback(self._child_ended)
        self._replicas.append(Replica(name=name, phase=Phase.PENDING))

    def _child_ended(self, ended: "asyncio.Future[Any]") -> None:
        if not ended.cancelled():
            ended.exception()  # retrieved: how it ended is read by the next observation
        self._nudged = True

    def _new_name(self, taken: set[str]) -> str:
        rng = workflow.random()
        while True:
            suffix = "".join(rng.choice(REPLICA_SUFFIX_ALPHABET) for _ in range(REPLICA_SUFFIX_LENGTH))
            name = replica_name(self._iset.name, suffix)
            if name not in taken:
                return name

    async def _suspend(self, replica: Replica) -> None:
        replica.want = Want.SUSPEND
        reason = f"InferenceSet {self._iset.name} scaled to {self._iset.replicas} replicas"
        await self._signal(replica, WorkspaceSignal.SUSPEND, SuspendRequest(reason=reason))

    async def _resume(self, replica: Replica) -> None:
        replica.want = Want.SERVE
        if replica.phase == Phase.SUSPENDED:
            request = ResumeRequest(namespace=self._iset.namespace, name=replica.name)
            await self._activity(ActivityName.RESUME, request, type(None), f"resume {replica.name}")
            replica.phase = Phase.RESUMING

    async def _delete(self, replica: Replica) -> None:
        replica.want = Want.DELETE
        if replica.closed is None:
            await self._signal(replica, WorkspaceSignal.DELETE)
            return
        # Its workflow ended (failed): nothing runs for it any more, only its Workspace object is left.
        ws = replica_workspace(self._iset, replica.name)
        await start_activity(
            WorkspaceActivity.DELETE_OBJECT, ws, result_type=type(None), summary=f"delete {replica.name}"
        )
        self._replicas.remove(replica)

    async def _signal(self, replica: Replica, signal: str, arg: Any = None) -> None:
        handle = workflow.get_external_workflow_handle(
            workspace_workflow_id(self._iset.namespace, replica.name)
        )
        try:
            await (handle.signal(signal) if arg is None else handle.signal(signal, arg))
        except FailureError as err:  # it ended meanwhile; the next observation says how
            workflow.logger.info("signal %s to %s not delivered: %s", signal, replica.name, err)

    async def _activity(self, name: ActivityName, arg: Any, result_type: type[Any], summary: str) -> Any:
        options = OPTIONS[name]
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=options.start_to_close,
                retry_policy=options.retry,
                summary=summary,
            )
        except ActivityError as err:
            workflow.logger.warning("%s failed: %s", summary, err.cause or err)
            raise

    # ---- deletion ---------------------------------------------------------------------------------

    async def _teardown(self) -> InferenceSetResult:
        """Delete every replica, suspended or not, and wait until each one's workflow has ended."""
        self._set(CONDITION_DELETING, "True", "inferencesetDeleted", "inferenceset is being deleted")
        while True:
            self._nudged = False
            await self._observe()
            for replica in list(self._replicas):
                if replica.want != Want.DELETE or replica.closed is not None:
                    await self._delete(replica)
            await self._write_status()
            if not self._replicas:
                break
            await self._wait(RECHECK_IN_FLIGHT)
        self._deleted = True
        return InferenceSetResult(message=f"InferenceSet {self._iset.namespace}/{self._iset.name} deleted")

    # ---- status -----------------------------------------------------------------------------------

    def _set(self, type_: str, status: str, reason: str, message: str) -> None:
        old = self._conditions.get(type_)
        if old and (old.status, old.reason, old.message) == (status, reason, message):
            return
        since = old.last_transition_time if old and old.status == status else workflow.now()
        self._conditions[type_] = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=since,
            observed_generation=self._iset.metadata.generation,
        )

    def _drop(self, type_: str) -> None:
        self._conditions.pop(type_, None)

    def _update_conditions(self) -> None:
        desired = self._iset.replicas
        ready = sum(1 for r in self._replicas if _ready(r))
        if self._plan is None:
            problems = "; ".join(self._problems)
            self._set(CONDITION_READY, "False", "InvalidSpec", f"the InferenceSet is refused: {problems}")
        elif ready == desired:
            self._set(CONDITION_READY, "True", "inferencesetReady", "inferenceset is ready")
        else:
            message = f"inferenceset is not ready, {ready}/{desired} replicas are ready"
            failed = [r for r in self._replicas if r.closed is not None or r.phase == Phase.FAILED]
            if failed:
                message += "; " + "; ".join(f"{r.name} failed: {r.message}" for r in failed)
            self._set(CONDITION_READY, "False", "inferencesetNotReady", message)
        limit = self.serving_limit()
        if limit is not None and limit < desired and self._plan is not None:
            message = (
                f"nodeCountLimit {self._iset.spec.node_count_limit} allows {limit} replica(s) of "
                f"{self._plan.nodes_per_replica} GPU node(s) each; {desired - limit} of the {desired} "
                "requested are not created"
            )
            self._set(CONDITION_NODE_LIMIT, "True", "NodeCountLimitReached", message)
        else:
            self._drop(CONDITION_NODE_LIMIT)
        suspended = [r for r in self._replicas if r.want == Want.SUSPEND and r.phase == Phase.SUSPENDED]
        if suspended:
            message = (
                f"{len(suspended)} replica Workspace(s) suspended, node pools at 0 nodes: "
                f"{', '.join(r.name for r in suspended)}; scaling up resumes them"
            )
            self._set(CONDITION_SUSPENDED, "True", "ScaledToZero" if desired == 0 else "Standby", message)
        else:
            self._drop(CONDITION_SUSPENDED)
        annotations = self._iset.autoscaling_annotations
        if annotations:
            message = (
                f"{', '.join(sorted(annotations))} configure KAITO's KEDA scaler (keda-kaito-scaler), "
                "which kaito-temporal does not run; replicas change only with spec.replicas or kubectl scale"
            )
            self._set(CONDITION_AUTOSCALING, "True", "KedaScalerNotRun", message)
        else:
            self._drop(CONDITION_AUTOSCALING)

    async def _write_status(self) -> None:
        self._update_conditions()
        update = SetStatusUpdate(
            namespace=self._iset.namespace,
            name=self._iset.name,
            api_version=self._iset.api_version,
            replicas=self._iset.replicas,
            ready_replicas=sum(1 for r in self._replicas if _ready(r)),
            selector=selector_of(self._iset.name),
            conditions=list(self._conditions.values()),
        )
        shown = update.model_dump(mode="json")
        if shown == self._written:
            return
        await self._activity(ActivityName.WRITE_STATUS, update, type(None), "write the InferenceSet status")
        self._written = shown

    # ---- commands and the query -------------------------------------------------------------------

    @workflow.signal(name=SignalName.SPEC_CHANGED)
    def spec_changed(self, iset: InferenceSet) -> None:
        self._pending = set_input(iset)

    @workflow.signal(name=SignalName.DELETE)
    def delete(self) -> None:
        self._delete_requested = True

    @workflow.signal(name=SignalName.WORKSPACE_CHANGED)
    def workspace_changed(self, change: WorkspaceChanged) -> None:
        self._nudged = True
        if change.deleted:
            self._objects_gone.add(change.name)

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> InferenceSetStatus:
        return InferenceSetStatus(
            namespace=self._iset.namespace,
            name=self._iset.name,
            desired=self._iset.replicas,
            serving_limit=self.serving_limit(),
            ready_replicas=sum(1 for r in self._replicas if _ready(r)),
            replicas=list(self._replicas),
            conditions=list(self._conditions.values()),
            deleted=self._deleted,
        )
