"""The workspace workflow on the time-skipping server: waits, deadlines, signals, delete, retries."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.conftest import load_example
from tests.waiting import wait_for_async
from tests.workflow.conftest import (
    query_status,
    running_worker,
    wait_for_phase,
    wait_for_status,
    workflow_failure,
)
from tests.workflow.fakes import FakeCloud
from workflows import conditions as cond
from workflows.workspace_contracts import (
    ActivityName,
    NodeReadiness,
    Phase,
    SignalName,
    SpecChange,
    WorkloadReadiness,
    WorkspaceResult,
    WorkspaceStatus,
)
from workflows.workspace_spec import Workspace
from workflows.workspace_validation import parse_workspace
from workflows.workspace_workflow import WorkspaceWorkflow


def falcon() -> Workspace:
    return parse_workspace(load_example("workspace-falcon-7b.yaml"))


async def start(env: WorkflowEnvironment, task_queue: str, ws: Workspace | None = None):  # type: ignore[no-untyped-def]
    ws = ws or falcon()
    return await env.client.start_workflow(
        WorkspaceWorkflow.run,
        ws,
        id=f"workspace/{ws.namespace}/{ws.name}-{uuid.uuid4().hex[:6]}",
        task_queue=task_queue,
    )


@asynccontextmanager
async def ready_workspace(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> AsyncIterator[tuple[WorkflowHandle[Any, Any], WorkspaceStatus]]:
    """Nodes and replicas are there before anyone asks, so the workspace goes straight to Ready."""
    cloud.ready_nodes, cloud.ready_replicas = 1, 1
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq)
        yield handle, await wait_for_phase(handle, Phase.READY)


async def written_state(cloud: FakeCloud, state: str) -> None:
    async def check() -> bool:
        return bool(cloud.statuses) and cloud.statuses[-1].state == state

    await wait_for_async(check, f"state {state} written to the Workspace", timeout=15)


async def test_ten_minute_gpu_wait_takes_seconds_and_reaches_ready(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    async with running_worker(env.client, cloud) as tq:
        wall = time.monotonic()
        handle = await start(env, tq)
        status = await wait_for_phase(handle, Phase.WAITING_FOR_NODES)
        assert status.target_nodes == 1 and status.ready_nodes == 0
        await env.sleep(timedelta(minutes=10))  # the GPU VMs boot
        await handle.signal(SignalName.NODES_READY, NodeReadiness(ready=1, nodes=["aks-n-0-vmss000000"]))
        await wait_for_phase(handle, Phase.WAITING_FOR_INFERENCE)
        await env.sleep(timedelta(minutes=5))  # the model loads
        await handle.signal(SignalName.INFERENCE_READY, WorkloadReadiness(ready_replicas=1, replicas=1))
        status = await wait_for_phase(handle, Phase.READY)
        elapsed_wall = time.monotonic() - wall

    waited = status.timings[Phase.WAITING_FOR_NODES.value]
    assert waited.finished is not None
    assert waited.finished - waited.started >= timedelta(minutes=10)
    assert elapsed_wall < 60, "time skipping should make the 15 virtual minutes take seconds"
    assert status.state == cond.STATE_READY
    assert status.endpoint and status.endpoint.startswith("http://workspace-falcon-7b.default")
    by_type = {c.type: c for c in status.conditions}
    for type_ in (cond.NODE_CLAIM_READY, cond.RESOURCE_READY, cond.INFERENCE_READY, cond.WORKSPACE_SUCCEEDED):
        assert by_type[type_].status == cond.TRUE, type_
    assert status.worker_nodes == ["aks-n-0-vmss000000"]
    await written_state(cloud, cond.STATE_READY)  # the status write runs behind the flow
    assert cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 1
    assert cloud.calls[ActivityName.COUNT_READY_NODES] == 1, (
        "one reconcile at the start of the wait, no polling"
    )


async def test_reconcile_at_wait_start_skips_the_wait_when_nodes_are_already_ready(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    async with ready_workspace(env, cloud) as (_, status):
        assert status.ready_nodes == 1 and status.ready_replicas == 1


async def test_deadline_without_signal_fails_with_reason_and_tears_down(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq)
        cause = await workflow_failure(handle)
        status = await query_status(handle)

    assert cause.type == "DeadlineExceeded"
    assert "gave up after 30m00s waiting for 1 Ready Standard_NC12s_v3 node(s)" in str(cause)
    assert "0/1 nodes Ready" in str(cause)
    assert status.phase == Phase.FAILED and status.state == cond.STATE_FAILED
    assert cloud.calls[ActivityName.COUNT_READY_NODES] == 2, "one reconcile at the start, one at the deadline"
    assert cloud.calls[ActivityName.DELETE_AGENT_POOL] == 1
    assert ActivityName.ENSURE_INFERENCE not in cloud.calls
    assert cloud.written(cond.WORKSPACE_SUCCEEDED) == (cond.FALSE, "DeadlineExceeded")


async def test_signal_at_the_deadline_reconcile_still_counts(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    """A lost signal is caught by the reconcile at the deadline: nodes that did come up are used."""
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq)
        await wait_for_phase(handle, Phase.WAITING_FOR_NODES)
        cloud.ready_nodes, cloud.ready_replicas = 1, 1  # nodes came up, but no controller told us
        result = await handle.query(WorkspaceWorkflow.status)
        assert result.phase == Phase.WAITING_FOR_NODES
        await env.sleep(timedelta(minutes=31))
        status = await wait_for_phase(handle, Phase.READY)
    assert status.ready_nodes == 1
    assert cloud.calls[ActivityName.COUNT_READY_NODES] == 2


async def test_delete_during_the_gpu_wait_tears_down(env: WorkflowEnvironment, cloud: FakeCloud) -> None:
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq)
        await wait_for_phase(handle, Phase.WAITING_FOR_NODES)
        await env.sleep(timedelta(minutes=4))
        await handle.signal(SignalName.DELETE)
        result = await handle.result()
        status = await query_status(handle)
    assert isinstance(result, WorkspaceResult) and result.phase == Phase.DELETED
    assert status.phase == Phase.DELETED
    assert cloud.calls[ActivityName.DELETE_AGENT_POOL] == 1
    assert ActivityName.DELETE_INFERENCE not in cloud.calls, "nothing was deployed, nothing to delete"
    assert any(c.type == cond.WORKSPACE_DELETING for c in cloud.statuses[-1].conditions)


async def test_delete_during_a_recount_lets_the_count_finish_then_tears_down(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    """The replica count is held; the delete waits for it instead of cancelling it, then removes all."""
    cloud.ready_nodes = 1
    gate = cloud.gates[ActivityName.COUNT_READY_REPLICAS] = asyncio.Event()
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq)
        await wait_for_status(
            handle,
            lambda _: cloud.calls.get(ActivityName.COUNT_READY_REPLICAS, 0) == 1,
            "the replica count to be held",
        )
        await handle.signal(SignalName.DELETE)
        held = await query_status(handle)
        assert held.phase == Phase.WAITING_FOR_INFERENCE, "the delete waits for the count to finish"
        gate.set()
        result = await handle.result()
    assert result.phase == Phase.DELETED
    assert cloud.calls[ActivityName.COUNT_READY_REPLICAS] == 1, "counted once, never retried or cancelled"
    assert (
        cloud.calls[ActivityName.DELETE_INFERENCE] == 1 and cloud.calls[ActivityName.DELETE_AGENT_POOL] == 1
    )


async def test_delete_when_ready_removes_workload_then_pool(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    async with ready_workspace(env, cloud) as (handle, _):
        await handle.signal(SignalName.DELETE)
        result = await handle.result()
    assert result.phase == Phase.DELETED
    assert cloud.calls[ActivityName.DELETE_INFERENCE] == 1
    assert cloud.calls[ActivityName.DELETE_AGENT_POOL] == 1


async def test_failing_then_succeeding_pool_create_converges(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    cloud.pool_failures = 2
    async with ready_workspace(env, cloud) as (_, status):
        assert status.state == cond.STATE_READY
    assert cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 3


async def test_invalid_spec_fails_fast_and_creates_nothing(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    manifest = load_example("workspace-falcon-40b.yaml")
    manifest["resource"] = {**manifest["resource"], "instanceType": "Standard_NC6s_v3"}  # type: ignore[dict-item]
    async with running_worker(env.client, cloud) as tq:
        cause = await workflow_failure(await start(env, tq, parse_workspace(manifest)))
    assert cause.type == "WorkspaceInvalid"
    assert "falcon-40b" in str(cause) and "Standard_NC48ads_A100_v4 fits" in str(cause)
    assert ActivityName.ENSURE_AGENT_POOL not in cloud.calls
    assert ActivityName.DELETE_AGENT_POOL not in cloud.calls
    assert cloud.written(cond.WORKSPACE_SUCCEEDED) == (cond.FALSE, "WorkspaceInvalid")


async def test_immutable_change_is_refused_and_serving_continues(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    async with ready_workspace(env, cloud) as (handle, _):
        changed = falcon().model_copy(deep=True)
        changed.resource.instance_type = "Standard_NC24ads_A100_v4"
        await handle.signal(SignalName.SPEC_CHANGED, SpecChange(workspace=changed))

        status = await wait_for_status(handle, lambda s: "update refused" in s.message, "the update refused")
    assert status.phase == Phase.READY and status.instance_type == "Standard_NC12s_v3"
    assert "resource.instanceType: immutable" in status.message
    assert cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 1


async def test_failure_reaches_the_status_even_when_the_cleanup_fails_too(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    cloud.delete_refused = True
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq)
        cause = await workflow_failure(handle)
        status = await query_status(handle)
    assert cause.type == "DeadlineExceeded", "the original cause"
    assert status.phase == Phase.FAILED and "cleanup did not finish" in status.message
    assert cloud.written(cond.WORKSPACE_SUCCEEDED) == (cond.FALSE, "DeadlineExceeded")
    assert any(s.state == cond.STATE_FAILED for s in cloud.statuses)
