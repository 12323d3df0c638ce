"""The InferenceSet workflow's side effects: validate, read its replicas' phases, resume one, write status.

Replicas are workspace workflows, so their phases are read with the workflows' own status query through
the worker's Temporal client (`activity.client()`), and a resume is the workspace workflow's `resume`
update, the same one `kaitoctl workspace resume` sends. The status goes to the InferenceSet's status
subresource through `activities.kube_api` (one retry rule set); a set already deleted is skipped.
"""

from datetime import timedelta
from functools import partial
from typing import Any

from kubernetes.client import ApiClient, CustomObjectsApi
from temporalio import activity
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.service import RPCError, RPCStatusCode

from activities import kube_api
from workflows.inferenceset_contracts import (
    ActivityName,
    Observed,
    ObserveRequest,
    ReplicaState,
    ResumeRequest,
    SetPlan,
    SetStatusUpdate,
    Validation,
)
from workflows.inferenceset_spec import (
    PLURAL,
    REPLICA_SUFFIX_LENGTH,
    InferenceSet,
    replica_name,
    replica_workspace,
    validate_inferenceset,
)
from workflows.workspace_contracts import STATUS_QUERY, UpdateName, WorkspaceStatus
from workflows.workspace_plan import build_plan
from workflows.workspace_spec import API_GROUP
from workflows.workspace_spec import workflow_id_for as workspace_workflow_id
from workflows.workspace_validation import WorkspaceInvalid

QUERY_TIMEOUT = timedelta(seconds=10)


def plan_inferenceset(iset: InferenceSet) -> Validation:
    """Pure: the set's problems, or how many GPU nodes one replica takes."""
    report = validate_inferenceset(iset)
    if not report.ok:
        return Validation(problems=[str(p) for p in report.errors])
    sample = replica_workspace(iset, replica_name(iset.name, "x" * REPLICA_SUFFIX_LENGTH))
    try:
        plan = build_plan(sample)
    except WorkspaceInvalid as invalid:
        return Validation(problems=[str(p) for p in invalid.problems])
    return Validation(plan=SetPlan(nodes_per_replica=plan.node_count, warnings=report.warnings))


def _closed_as(status: WorkflowExecutionStatus | None) -> str:
    return status.name.replace("_", " ").title().replace(" ", "") if status else "Unknown"


class InferenceSetActivities:
    def __init__(self, kube: ApiClient) -> None:
        self._custom = CustomObjectsApi(kube)

    @activity.defn(name=ActivityName.VALIDATE)
    async def validate_inferenceset(self, iset: InferenceSet) -> Validation:
        return plan_inferenceset(iset)

    @activity.defn(name=ActivityName.OBSERVE)
    async def observe_inferenceset_workspaces(self, request: ObserveRequest) -> Observed:
        """Each replica's phase from its workflow, or how that workflow ended."""
        return Observed(replicas=[await _observe(request.namespace, name) for name in request.names])

    @activity.defn(name=ActivityName.RESUME)
    async def resume_inferenceset_workspace(self, request: ResumeRequest) -> None:
        """Send the workspace workflow's resume update and return once it is accepted (not Ready)."""
        handle = activity.client().get_workflow_handle(workspace_workflow_id(request.namespace, request.name))
        try:
            await handle.start_update(UpdateName.RESUME, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        except WorkflowUpdateFailedError as refused:
            # Not Suspended (yet, or any more): the set's next observation decides what to do.
            activity.logger.info("resume of %s refused: %s", request.name, refused.cause or refused)

    @activity.defn(name=ActivityName.WRITE_STATUS)
    async def write_inferenceset_status(self, update: SetStatusUpdate) -> None:
        status: dict[str, Any] = {
            "replicas": update.replicas,
            "readyReplicas": update.ready_replicas,
            "selector": update.selector,
            "conditions": [
                c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in update.conditions
            ],
        }
        version = update.api_version.split("/", 1)[1]
        patch = partial(
            self._custom.patch_namespaced_custom_object_status,
            API_GROUP, version, update.namespace, PLURAL, update.name, {"status": status},
        )  # fmt: skip
        await kube_api.call_if_present("write the InferenceSet status", patch)


async def _observe(namespace: str, name: str) -> ReplicaState:
    handle = activity.client().get_workflow_handle(workspace_workflow_id(namespace, name))
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return ReplicaState(name=name, closed="NotFound")
        raise
    if described.status == WorkflowExecutionStatus.FAILED:
        try:
            await handle.result()
        except WorkflowFailureError as failed:
            return ReplicaState(name=name, closed="Failed", message=str(failed.cause or failed))
    if described.status != WorkflowExecutionStatus.RUNNING:
        return ReplicaState(name=name, closed=_closed_as(described.status))
    status = await handle.query(STATUS_QUERY, result_type=WorkspaceStatus, rpc_timeout=QUERY_TIMEOUT)
    return ReplicaState(name=name, phase=status.phase, message=status.message)
