"""The in-cluster controllers (kopf): the Workspace CR is a door into its workflow, and Node and
StatefulSet readiness become the workflow's `nodes-ready` / `inference-ready` signals.

They talk to workflows only through the Temporal client; every decision stays in the workflow.
"""

import logging
from datetime import UTC, datetime
from typing import Any

import kopf
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.service import RPCError

from controllers.finalizers import hold_until_torn_down
from controllers.signals import SignalSender, pod_problem
from workflows.conditions import STATE_FAILED, KaitoStatus
from workflows.fallback_sizes import ANNOTATION_FALLBACKS
from workflows.naming import LABEL_WORKSPACE
from workflows.readiness import ready_gpu_nodes, workspace_of
from workflows.workspace_client import apply_workspace
from workflows.workspace_contracts import (
    NodeReadiness,
    PodHealth,
    SignalName,
    UpdateName,
    WorkloadReadiness,
)
from workflows.workspace_spec import API_GROUP, PLURAL, STORAGE_VERSION, Workspace, workflow_id_for
from workflows.workspace_validation import WorkspaceInvalid, parse_workspace, validate_workspace

FINALIZER = "workspace.finalizer.kaito.sh"
ANNOTATION_RESUME = "kaito.sh/resume"
WORKSPACES = {"group": API_GROUP, "version": STORAGE_VERSION, "plural": PLURAL}
log = logging.getLogger("kaito.controllers")

WorkspaceKey = tuple[str, str]


def _client(memo: kopf.Memo) -> Client:
    client: Client = memo["temporal"]
    return client


def _sender(memo: kopf.Memo) -> SignalSender:
    sender: SignalSender = memo["signals"]
    return sender


def workspace_from(body: kopf.Body) -> Workspace:
    """The manifest as the workflow takes it; status and kopf's bookkeeping stay out of the input."""
    data = {k: v for k, v in dict(body).items() if k != "status"}
    return parse_workspace(data)


def invalid_status(message: str) -> dict[str, Any]:
    """The status of a Workspace KAITO's webhook would have refused: Failed, and why."""
    kaito = KaitoStatus(clock=lambda: datetime.now(UTC))
    kaito.invalid(message)
    return {
        "state": kaito.state,
        "conditions": [c.model_dump(mode="json", exclude_none=True) for c in kaito.conditions()],
    }


# ---- the Workspace door ---------------------------------------------------------------------------


@kopf.index(**WORKSPACES)  # type: ignore[arg-type]
def workspace_instance_types(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[WorkspaceKey, str]:
    """Which instance types each workspace's nodes may have (its own, then its fallbacks), comma-separated,
    for the node readiness rule: the pool runs on whichever of them had capacity."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    sizes = [str((body.get("resource") or {}).get("instanceType") or "")]
    sizes += [s.strip() for s in str(annotations.get(ANNOTATION_FALLBACKS, "")).split(",") if s.strip()]
    return {(namespace, name): ",".join(size for size in sizes if size)}


@kopf.on.resume(**WORKSPACES)  # type: ignore[arg-type]
@kopf.on.create(**WORKSPACES)  # type: ignore[arg-type]
@kopf.on.update(**WORKSPACES)  # type: ignore[arg-type]
async def workspace_applied(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, reason: str = "", **_: Any
) -> None:
    """Refuse what KAITO's webhook would refuse; otherwise signal-with-start the one workflow.

    A controller restart (kopf's resume) does not start a failed workspace again: its failure stands
    until the user changes the spec (which starts it afresh) or deletes it."""
    if body.get("metadata", {}).get("deletionTimestamp"):
        return
    if reason == "resume" and (body.get("status") or {}).get("state") == STATE_FAILED:
        return
    try:
        ws = workspace_from(body)
        report = validate_workspace(ws)
        if not report.ok:
            raise WorkspaceInvalid(report.errors)
    except WorkspaceInvalid as invalid:
        log.warning(
            "workspace %s/%s refused: %s",
            body["metadata"].get("namespace"),
            body["metadata"]["name"],
            invalid,
        )
        patch.status.update(invalid_status(str(invalid).replace("\n", "; ")))
        return
    await apply_workspace(_client(memo), ws)


@kopf.on.update(**WORKSPACES, annotations={ANNOTATION_RESUME: kopf.PRESENT})  # type: ignore[arg-type]
@kopf.on.create(**WORKSPACES, annotations={ANNOTATION_RESUME: kopf.PRESENT})  # type: ignore[arg-type]
async def resume_requested(namespace: str, name: str, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """`kubectl annotate workspace NAME kaito.sh/resume=now`: ask the workflow to resume, then clear it."""
    handle = _client(memo).get_workflow_handle(workflow_id_for(namespace, name))
    try:
        await handle.start_update(UpdateName.RESUME, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    except (RPCError, WorkflowUpdateFailedError) as refused:
        log.warning(
            "resume of %s/%s refused: %s", namespace, name, getattr(refused, "cause", None) or refused
        )
    patch.metadata.annotations[ANNOTATION_RESUME] = None


@kopf.on.delete(**WORKSPACES)  # type: ignore[arg-type]
async def workspace_deleted(namespace: str, name: str, memo: kopf.Memo, **_: Any) -> None:
    """Hold the finalizer until the workflow has torn everything down (or was never running)."""
    handle = _client(memo).get_workflow_handle(workflow_id_for(namespace, name))
    await hold_until_torn_down(
        handle, SignalName.DELETE, f"waiting for workspace {namespace}/{name} to tear down"
    )
    _sender(memo).forget(namespace, name)


# ---- readiness → signals --------------------------------------------------------------------------


@kopf.index("", "v1", "nodes", labels={LABEL_WORKSPACE: kopf.PRESENT})
def workspace_nodes(body: kopf.Body, **_: Any) -> dict[WorkspaceKey, dict[str, Any]] | None:
    key = workspace_of(body.get("metadata", {}).get("labels"))
    return {key: dict(body)} if key else None


@kopf.on.event("", "v1", "nodes", labels={LABEL_WORKSPACE: kopf.PRESENT})  # type: ignore[arg-type]  # indices
async def node_changed(
    body: kopf.Body,
    memo: kopf.Memo,
    workspace_nodes: kopf.Index[WorkspaceKey, dict[str, Any]],
    workspace_instance_types: kopf.Index[WorkspaceKey, str],
    **_: Any,
) -> None:
    key = workspace_of(body.get("metadata", {}).get("labels"))
    if key is None:
        return
    sizes = next(iter(workspace_instance_types.get(key, [])), "")
    nodes: list[dict[str, Any]] = list(workspace_nodes.get(key, []))
    ready = sorted({node for size in sizes.split(",") if size for node in ready_gpu_nodes(nodes, size)})
    payload = NodeReadiness(ready=len(ready), nodes=ready, observed_at=datetime.now(UTC))
    await _sender(memo).send(*key, SignalName.NODES_READY, payload, key=ready)


@kopf.on.event("apps", "v1", "statefulsets", labels={LABEL_WORKSPACE: kopf.PRESENT})
async def workload_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    metadata = body.get("metadata", {})
    name = metadata.get("labels", {}).get(LABEL_WORKSPACE)
    if not name:
        return
    status = body.get("status") or {}
    ready = 0 if type == "DELETED" else int(status.get("readyReplicas") or 0)
    payload = WorkloadReadiness(
        ready_replicas=ready, replicas=int(status.get("replicas") or 0), observed_at=datetime.now(UTC)
    )
    await _sender(memo).send(
        metadata.get("namespace", "default"),
        name,
        SignalName.INFERENCE_READY,
        payload,
        key=(payload.ready_replicas, payload.replicas),
    )


@kopf.on.event("", "v1", "pods", labels={LABEL_WORKSPACE: kopf.PRESENT})
async def pod_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A crash loop or an OOM kill after Ready reaches the workspace at once, and so does the recovery."""
    metadata = body.get("metadata", {})
    name = metadata.get("labels", {}).get(LABEL_WORKSPACE)
    if not name:
        return
    problem = None if type == "DELETED" else pod_problem(dict(body))
    reason, message = problem if problem else (None, "")
    payload = PodHealth(
        pod=metadata.get("name", ""), reason=reason, message=message, observed_at=datetime.now(UTC)
    )
    await _sender(memo).send(
        metadata.get("namespace", "default"), name, SignalName.POD_HEALTH, payload, key=(payload.pod, reason)
    )
