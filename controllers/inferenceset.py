"""The InferenceSet door (kopf): the InferenceSet CR goes to its workflow, and a change to one of its
replicas' Workspaces becomes the workflow's `workspace-changed` signal.

Thin, like the Workspace handlers: refuse what validation refuses (status says why), otherwise
signal-with-start the one workflow; on delete, hold the finalizer until that workflow has removed
every replica. Every decision stays in the workflow.
"""

import logging
from datetime import UTC, datetime
from typing import Any

import kopf
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from controllers.finalizers import hold_until_torn_down
from workflows.inferenceset_client import apply_inferenceset
from workflows.inferenceset_contracts import CONDITION_READY, SignalName, WorkspaceChanged
from workflows.inferenceset_spec import (
    LABEL_CREATED_BY,
    PLURAL,
    STORAGE_VERSION,
    InferenceSet,
    parse_inferenceset,
    validate_inferenceset,
    workflow_id_for,
)
from workflows.workspace_spec import API_GROUP
from workflows.workspace_spec import PLURAL as WORKSPACES_PLURAL
from workflows.workspace_spec import STORAGE_VERSION as WORKSPACE_VERSION
from workflows.workspace_validation import WorkspaceInvalid

INFERENCESETS = {"group": API_GROUP, "version": STORAGE_VERSION, "plural": PLURAL}
REPLICAS = {"group": API_GROUP, "version": WORKSPACE_VERSION, "plural": WORKSPACES_PLURAL}
log = logging.getLogger("kaito.controllers")

# What each replica's set was last told about it, so that only changes are signalled.
_last_seen: dict[tuple[str, str], str] = {}


def _client(memo: kopf.Memo) -> Client:
    client: Client = memo["temporal"]
    return client


def inferenceset_from(body: kopf.Body) -> InferenceSet:
    """The manifest as the workflow takes it; status stays out of the input."""
    return parse_inferenceset({k: v for k, v in dict(body).items() if k != "status"})


def invalid_status(message: str, generation: int | None) -> dict[str, Any]:
    """The status of an InferenceSet KAITO's webhook would have refused: not ready, and why."""
    condition: dict[str, Any] = {
        "type": CONDITION_READY,
        "status": "False",
        "reason": "InvalidSpec",
        "message": f"the InferenceSet is refused: {message}",
        "lastTransitionTime": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return {"conditions": [condition]}


@kopf.on.resume(**INFERENCESETS)  # type: ignore[arg-type]
@kopf.on.create(**INFERENCESETS)  # type: ignore[arg-type]
@kopf.on.update(**INFERENCESETS)  # type: ignore[arg-type]
async def inferenceset_applied(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Create, edit, `kubectl scale`: validate, then signal-with-start the set's workflow."""
    metadata = body.get("metadata", {})
    if metadata.get("deletionTimestamp"):
        return
    try:
        iset = inferenceset_from(body)
        report = validate_inferenceset(iset)
        if not report.ok:
            raise WorkspaceInvalid(report.errors)
    except WorkspaceInvalid as invalid:
        text = str(invalid).replace("\n", "; ")
        log.warning("inferenceset %s/%s refused: %s", metadata.get("namespace"), metadata.get("name"), text)
        patch.status.update(invalid_status(text, metadata.get("generation")))
        return
    await apply_inferenceset(_client(memo), iset)


@kopf.on.delete(**INFERENCESETS)  # type: ignore[arg-type]
async def inferenceset_deleted(namespace: str, name: str, memo: kopf.Memo, **_: Any) -> None:
    """Hold the finalizer until the workflow has deleted every replica (or was never running)."""
    handle = _client(memo).get_workflow_handle(workflow_id_for(namespace, name))
    waiting = f"waiting for inferenceset {namespace}/{name} to delete its replicas"
    await hold_until_torn_down(handle, SignalName.DELETE, waiting)


@kopf.on.event(**REPLICAS, labels={LABEL_CREATED_BY: kopf.PRESENT})  # type: ignore[arg-type]
async def replica_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A replica's Workspace changed state (or went): its set looks at its replicas again."""
    metadata = body.get("metadata", {})
    namespace, name = metadata.get("namespace", "default"), metadata.get("name", "")
    set_name = (metadata.get("labels") or {}).get(LABEL_CREATED_BY)
    if not set_name or not name:
        return
    status = body.get("status") or {}
    conditions = sorted((c.get("type"), c.get("status")) for c in status.get("conditions") or [])
    seen = repr((type == "DELETED", bool(metadata.get("deletionTimestamp")), status.get("state"), conditions))
    if _last_seen.get((namespace, name)) == seen:
        return
    handle = _client(memo).get_workflow_handle(workflow_id_for(namespace, set_name))
    try:
        await handle.signal(
            SignalName.WORKSPACE_CHANGED, WorkspaceChanged(name=name, deleted=type == "DELETED")
        )
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        log.debug("no running workflow for inferenceset %s/%s", namespace, set_name)
    if type == "DELETED":
        _last_seen.pop((namespace, name), None)
    else:
        _last_seen[(namespace, name)] = seen
