"""The time-skipping server and a worker running both workflows: real workspace workflows as the
replicas (on the fake cloud), the real validate / observe / resume activities (they use the worker's
Temporal client), and a recorder of the InferenceSet status writes."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import ApiClient
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.inferenceset_activities import InferenceSetActivities
from tests.workflow.conftest import cloud, env  # noqa: F401  (fixtures)
from tests.workflow.fakes import FakeCloud
from workflows.inferenceset_contracts import ActivityName, SetStatusUpdate, SignalName, WorkspaceChanged
from workflows.inferenceset_spec import workflow_id_for
from workflows.inferenceset_workflow import InferenceSetWorkflow
from workflows.workspace_contracts import ActivityName as WorkspaceActivity
from workflows.workspace_contracts import StatusUpdate
from workflows.workspace_workflow import WorkspaceWorkflow

KAITO_EXAMPLES = Path(__file__).parent.parent / "examples" / "kaito" / "v0.12.0"  # vendored, unchanged
INFERENCESET_EXAMPLES = sorted(KAITO_EXAMPLES.glob("kaito_inferenceset_*.yaml"))


def kaito_inferenceset(file: str) -> dict[str, Any]:
    """The InferenceSet document of one of KAITO's v0.12.0 example files, unchanged."""
    docs = yaml.safe_load_all((KAITO_EXAMPLES / file).read_text())
    return next(d for d in docs if d and d.get("kind") == "InferenceSet")


@dataclass
class StatusRecorder:
    """Records the set's status writes; plays the controller's part for the replicas' Workspaces."""

    cloud: FakeCloud
    writes: list[SetStatusUpdate] = field(default_factory=list)

    @activity.defn(name=WorkspaceActivity.WRITE_STATUS)
    async def write_workspace_status(self, update: StatusUpdate) -> None:
        """A replica's Workspace status changed: the controller would see it and signal its set."""
        await self.cloud.write_workspace_status(update)
        set_name = update.name.rsplit("-", 1)[0]
        handle = activity.client().get_workflow_handle(workflow_id_for(update.namespace, set_name))
        try:
            await handle.signal(SignalName.WORKSPACE_CHANGED, WorkspaceChanged(name=update.name))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise

    @activity.defn(name=ActivityName.WRITE_STATUS)
    async def write_inferenceset_status(self, update: SetStatusUpdate) -> None:
        self.writes.append(update)

    def condition(self, type_: str) -> tuple[str, str, str] | None:
        if not self.writes:
            return None
        found = next((c for c in self.writes[-1].conditions if c.type == type_), None)
        return (found.status, found.reason, found.message) if found else None


@asynccontextmanager
async def set_worker(client: Client, fake: FakeCloud, recorder: StatusRecorder) -> AsyncIterator[str]:
    task_queue = f"tq-{uuid.uuid4()}"
    real = InferenceSetActivities(ApiClient())
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[WorkspaceWorkflow, InferenceSetWorkflow],
        activities=[
            *[a for a in fake.activities() if a != fake.write_workspace_status],
            recorder.write_workspace_status,
            real.validate_inferenceset,
            real.observe_inferenceset_workspaces,
            real.resume_inferenceset_workspace,
            recorder.write_inferenceset_status,
        ],
    ):
        yield task_queue
