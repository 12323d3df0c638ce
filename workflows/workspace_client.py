"""How every door (kubectl via the controller, kaitoctl) hands a spec to the one workspace workflow.

Signal-with-start: the first spec starts the workflow `workspace/<ns>/<name>`, later ones reach the
running one as `spec-changed`, so there is never a second workflow for a workspace.
"""

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from workflows import search_attributes as sa
from workflows.workspace_contracts import (
    TASK_QUEUE,
    WORKSPACE_WORKFLOW,
    Phase,
    SignalName,
    SpecChange,
    WorkspaceResult,
)
from workflows.workspace_spec import Workspace, workflow_id_for

# The visibility query for every workspace that exists (its workflow runs for the Workspace's lifetime).
RUNNING_WORKSPACES = f'WorkflowType = "{WORKSPACE_WORKFLOW}" AND ExecutionStatus = "Running"'


def initial_search_attributes(ws: Workspace) -> TypedSearchAttributes:
    """Set at start, so the UI can filter a workspace before its first task runs."""
    return TypedSearchAttributes([*sa.of_workspace(ws), SearchAttributePair(sa.PHASE, Phase.PENDING.value)])


async def apply_workspace(client: Client, ws: Workspace) -> WorkflowHandle[object, WorkspaceResult]:
    return await client.start_workflow(
        WORKSPACE_WORKFLOW,
        ws,
        id=workflow_id_for(ws.namespace, ws.name),
        task_queue=TASK_QUEUE,
        start_signal=SignalName.SPEC_CHANGED,
        start_signal_args=[SpecChange(workspace=ws)],
        search_attributes=initial_search_attributes(ws),
        result_type=WorkspaceResult,
    )
