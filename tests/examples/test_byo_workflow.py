"""A BYO workspace (no instanceType) on the time-skipping server: no agent pool is created, scaled or
deleted, and a scale-to-zero request is ignored (the nodes are the user's)."""

from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from kaitoctl.loading import load_manifest
from tests.workflow.conftest import cloud, env, query_status, running_worker, wait_for_phase
from tests.workflow.fakes import FakeCloud
from workflows.workspace_contracts import ActivityName, Phase, SignalName, SuspendRequest
from workflows.workspace_validation import parse_workspace
from workflows.workspace_workflow import WorkspaceWorkflow

__all__ = ["cloud", "env"]

ACCELERATOR = Path(__file__).parent / "kaito" / "v0.12.0" / "kaito_workspace_accelerator.yaml"
POOL_STEPS = (ActivityName.ENSURE_AGENT_POOL, ActivityName.SCALE_AGENT_POOL, ActivityName.DELETE_AGENT_POOL)


async def test_byo_serves_without_a_pool_and_ignores_suspend(env: WorkflowEnvironment) -> None:
    cloud = FakeCloud(ready_nodes=1, ready_replicas=1)
    ws = parse_workspace(load_manifest(ACCELERATOR).raw_workspace())
    async with running_worker(env.client, cloud) as task_queue:
        handle: Any = await env.client.start_workflow(
            WorkspaceWorkflow.run, ws, id=f"workspace/default/{ws.name}", task_queue=task_queue
        )
        status = await wait_for_phase(handle, Phase.READY)
        assert not status.instance_type and cloud.calls.get(ActivityName.ENSURE_INFERENCE) == 1
        await handle.signal(SignalName.SUSPEND, SuspendRequest(reason="idle"))
        assert (await query_status(handle)).phase == Phase.READY
        await handle.signal(SignalName.DELETE)
        await handle.result()
    assert not any(cloud.calls.get(step, 0) for step in POOL_STEPS), cloud.calls
    assert cloud.calls.get(ActivityName.DELETE_INFERENCE) == 1
