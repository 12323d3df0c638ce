"""Record workflow histories for the replay test: `python -m tests.workflow.record_histories [NAME ...]`.

Re-record only on purpose: a saved history is the contract that running workflows keep replaying
after a deploy. A change that breaks replay needs `workflow.patched`, not a new recording. Each
scenario below drives one branch of the workspace workflow (or the sweep) to its end on the
time-skipping test server; continue-as-new needs the dev server, whose history-size hint can be
lowered so that the workflow is told to continue as new after a few events.
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.conftest import load_example, venv_binary
from tests.workflow.conftest import (
    register_search_attributes,
    running_worker,
    wait_for_phase,
    wait_for_status,
    workflow_failure,
)
from tests.workflow.fakes import FakeCloud
from workflows import search_attributes as sa
from workflows.sweep_contracts import SweepInput
from workflows.sweep_workflow import ScaleToZeroSweep
from workflows.workspace_contracts import (
    ActivityName,
    NodeReadiness,
    Phase,
    PodHealth,
    SignalName,
    SpecChange,
    SuspendRequest,
    TrafficObserved,
    UpdateName,
    WakeAnswer,
    WakeRequest,
    WorkloadReadiness,
    WorkspaceStatus,
)
from workflows.workspace_validation import parse_workspace
from workflows.workspace_workflow import WorkspaceWorkflow

HISTORIES = Path(__file__).parent / "histories"
WORKFLOW_ID = "workspace/default/workspace-falcon-7b"

Handle = WorkflowHandle[Any, Any]
Scenario = Callable[[WorkflowEnvironment, FakeCloud, str], Awaitable[Handle]]


async def _start(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle[Any, Any]:
    ws = parse_workspace(load_example("workspace-falcon-7b.yaml"))
    return await env.client.start_workflow(WorkspaceWorkflow.run, ws, id=WORKFLOW_ID, task_queue=task_queue)


async def _resume(handle: WorkflowHandle[Any, Any]) -> WorkspaceStatus:
    status: WorkspaceStatus = await handle.execute_update(UpdateName.RESUME, result_type=WorkspaceStatus)
    return status


async def _ready(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """A workspace in a cloud that brings nodes and replicas by itself, once it is Ready."""
    cloud.auto = True
    handle = await _start(env, tq)
    await wait_for_phase(handle, Phase.READY)
    return handle


async def _delete(handle: Handle) -> Handle:
    await handle.signal(SignalName.DELETE)
    await handle.result()
    return handle


async def provision_ready_delete(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """One transient pool failure, a 10-minute GPU wait ended by the signal, then delete."""
    cloud.pool_failures = 1
    handle = await _start(env, tq)
    await wait_for_phase(handle, Phase.WAITING_FOR_NODES)
    await env.sleep(timedelta(minutes=10))
    await handle.signal(SignalName.NODES_READY, NodeReadiness(ready=1, nodes=["aks-n-0-vmss000000"]))
    await wait_for_phase(handle, Phase.WAITING_FOR_INFERENCE)
    await handle.signal(SignalName.INFERENCE_READY, WorkloadReadiness(ready_replicas=1, replicas=1))
    await wait_for_phase(handle, Phase.READY)
    return await _delete(handle)


async def suspend_resume_delete(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """Ready, traffic seen, suspended for 10 h, resumed through the GPU wait, deleted."""
    handle = await _ready(env, cloud, tq)
    await handle.signal(SignalName.TRAFFIC_OBSERVED, TrafficObserved(at=datetime.now(UTC)))
    await handle.signal(SignalName.SUSPEND, SuspendRequest(reason="no inference requests for 30m"))
    await wait_for_phase(handle, Phase.SUSPENDED)
    await env.sleep(timedelta(hours=10))
    status = await _resume(handle)
    assert status.phase == Phase.READY, status.message
    return await _delete(handle)


async def failed_resume(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """The resume's pool step is refused (quota): back to zero, still Suspended, then deleted."""
    cloud.pool_refused_on_call = 2
    handle = await _ready(env, cloud, tq)
    await handle.signal(SignalName.SUSPEND, SuspendRequest(reason="idle"))
    await wait_for_phase(handle, Phase.SUSPENDED)
    status = await _resume(handle)
    assert status.phase == Phase.SUSPENDED, status.message
    return await _delete(handle)


async def _wake(handle: Handle) -> WakeAnswer:
    answer: WakeAnswer = await handle.execute_update(UpdateName.WAKE, WakeRequest(), result_type=WakeAnswer)
    return answer


async def suspend_wake_delete(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """Suspended (routed to the wake gateway), woken by three `wake` updates at once, routed back, deleted."""
    handle = await _ready(env, cloud, tq)
    await handle.signal(SignalName.SUSPEND, SuspendRequest(reason="idle"))
    await wait_for_phase(handle, Phase.SUSPENDED)
    answers = await asyncio.gather(*(_wake(handle) for _ in range(3)))
    assert all(a.ready for a in answers), answers
    return await _delete(handle)


async def failed_wake(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """The wake's health check fails after the route back: zero again, routed to the gateway, deleted."""
    handle = await _ready(env, cloud, tq)
    await handle.signal(SignalName.SUSPEND, SuspendRequest(reason="idle"))
    await wait_for_phase(handle, Phase.SUSPENDED)
    cloud.health_fails = True
    answer = await _wake(handle)
    assert not answer.ready and answer.phase == Phase.SUSPENDED, answer
    return await _delete(handle)


async def failure_with_cleanup(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """Nodes never come: the deadline fails the workspace, and the pool it created is deleted."""
    handle = await _start(env, tq)
    await wait_for_phase(handle, Phase.WAITING_FOR_NODES)
    await env.sleep(timedelta(minutes=31))
    await workflow_failure(handle)
    return handle


async def pool_refused(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """The pool create is refused for good (quota): the workspace fails, its status says why."""
    cloud.pool_refused_on_call = 1
    handle = await _start(env, tq)
    await workflow_failure(handle)
    return handle


async def delete_during_gpu_wait(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    handle = await _start(env, tq)
    await wait_for_phase(handle, Phase.WAITING_FOR_NODES)
    await env.sleep(timedelta(minutes=3))
    return await _delete(handle)


async def delete_during_recount(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """Recorded with the `recounts-run-to-end` patch: a delete while the replicas are being counted lets
    the count finish, then tears down (runs recorded before the patch cancelled the count)."""
    cloud.ready_nodes = 1
    gate = cloud.gates[ActivityName.COUNT_READY_REPLICAS] = asyncio.Event()
    handle = await _start(env, tq)
    await wait_for_phase(handle, Phase.WAITING_FOR_INFERENCE)
    await handle.signal(SignalName.DELETE)
    gate.set()
    await handle.result()
    return handle


async def spec_changes(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """A label change is taken, an instance-type change is refused; then delete."""
    handle = await _ready(env, cloud, tq)
    manifest = load_example("workspace-falcon-7b.yaml")
    manifest["metadata"]["labels"] = {"team": "search"}  # type: ignore[index]
    await handle.signal(SignalName.SPEC_CHANGED, SpecChange(workspace=parse_workspace(manifest)))
    manifest["resource"]["instanceType"] = "Standard_NC24ads_A100_v4"  # type: ignore[index]
    await handle.signal(SignalName.SPEC_CHANGED, SpecChange(workspace=parse_workspace(manifest)))
    await wait_for_phase(handle, Phase.READY)
    return await _delete(handle)


async def sweep_suspends_idle(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """Two sweeps: the first sees the counter, the second (past the window) suspends the idle workspace."""
    workspace = await _ready(env, cloud, tq)
    first = await env.client.execute_workflow(
        ScaleToZeroSweep.run, SweepInput(idle_window=timedelta(minutes=30)), id="sweep-1", task_queue=tq
    )
    await env.sleep(timedelta(hours=1))
    handle = await env.client.start_workflow(
        ScaleToZeroSweep.run,
        SweepInput(idle_window=timedelta(minutes=30), previous=first.state),
        id="sweep-2",
        task_queue=tq,
    )
    await handle.result()
    await wait_for_phase(workspace, Phase.SUSPENDED)
    return handle


async def capacity_wait(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """Recorded with the `capacity-aware` patch: no quota, so WaitingForCapacity (no PUT); the quota is
    raised, the recheck timer finds it, and the pool is created; then delete, which wakes the queue."""
    cloud.auto, cloud.quotas = True, {"standardNCSv3Family": 0}
    handle = await _start(env, tq)
    await wait_for_phase(handle, Phase.WAITING_FOR_CAPACITY)
    cloud.quotas["standardNCSv3Family"] = 12
    await env.sleep(timedelta(minutes=16))
    await wait_for_phase(handle, Phase.READY)
    return await _delete(handle)


async def spot_eviction_and_pod_health(env: WorkflowEnvironment, cloud: FakeCloud, tq: str) -> Handle:
    """A Spot workspace: Ready, its pod OOM-killed and well again, its nodes evicted and provisioned
    again through the GPU wait; then delete."""
    cloud.auto = True
    ws = parse_workspace(load_example("workspace-falcon-7b.yaml"))
    ws.metadata.annotations = {"kaito.sh/spot": "true"}
    handle = await env.client.start_workflow(WorkspaceWorkflow.run, ws, id=WORKFLOW_ID, task_queue=tq)
    await wait_for_phase(handle, Phase.READY)
    now = datetime.now(UTC)
    await handle.signal(SignalName.POD_HEALTH, PodHealth(pod="p-0", reason="OOMKilled", observed_at=now))
    later = now + timedelta(seconds=5)
    await handle.signal(SignalName.POD_HEALTH, PodHealth(pod="p-0", observed_at=later))
    await env.sleep(timedelta(minutes=30))
    cloud.nodes[ws.name] = 0
    await handle.signal(SignalName.NODES_READY, NodeReadiness(ready=0, observed_at=now + timedelta(hours=1)))
    await wait_for_status(handle, lambda s: s.evictions == 1 and s.phase == Phase.READY, "recovered")
    return await _delete(handle)


TIME_SKIPPING: dict[str, Scenario] = {
    "provision-ready-delete": provision_ready_delete,
    "suspend-resume-delete": suspend_resume_delete,
    "failed-resume": failed_resume,
    "suspend-wake-delete": suspend_wake_delete,
    "failed-wake": failed_wake,
    "failure-with-cleanup": failure_with_cleanup,
    "pool-refused": pool_refused,
    "delete-during-gpu-wait": delete_during_gpu_wait,
    "delete-during-recount": delete_during_recount,
    "spec-changes": spec_changes,
    "sweep-suspends-idle": sweep_suspends_idle,
    "capacity-wait": capacity_wait,
    "spot-eviction-and-pod-health": spot_eviction_and_pod_health,
}


async def _save(client: Client, handle: Handle, name: str, run_id: str | None = None) -> None:
    history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


async def record_time_skipping(names: list[str]) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(venv_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env.client)
        for name, scenario in TIME_SKIPPING.items():
            if name not in names:
                continue
            cloud = FakeCloud()
            async with running_worker(env.client, cloud) as tq:
                handle = await scenario(env, cloud, tq)
                await _save(env.client, handle, name)
    finally:
        await env.shutdown()


async def record_continue_as_new() -> None:
    """Ready, then traffic signals until the server suggests continuing as new; the first run's history
    ends in ContinueAsNew, the second run starts from the carried memo. Both are saved."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        data_converter=pydantic_data_converter,
        search_attributes=list(sa.ALL),
        dev_server_extra_args=[
            "--headless",
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=60",
        ],
    )
    try:
        cloud = FakeCloud(auto=True)
        async with running_worker(env.client, cloud) as tq:
            handle = await _start(env, tq)
            await wait_for_phase(handle, Phase.READY)
            first_run = (await handle.describe()).run_id
            for _ in range(60):
                if (await handle.describe()).run_id != first_run:
                    break
                await handle.signal(SignalName.TRAFFIC_OBSERVED, TrafficObserved(at=datetime.now(UTC)))
            else:
                raise RuntimeError("the workflow never continued as new")
            await wait_for_phase(handle, Phase.READY)
            await handle.signal(SignalName.DELETE)
            await handle.result()
            await _save(env.client, handle, "continue-as-new-first-run", run_id=first_run)
            await _save(env.client, handle, "continue-as-new-second-run")
    finally:
        await env.shutdown()


async def main(names: list[str]) -> None:
    """The named scenarios, or every one that has no saved history yet."""
    saved = {path.stem for path in HISTORIES.glob("*.json")}
    wanted = names or [name for name in TIME_SKIPPING if name not in saved]
    if not names and "continue-as-new-first-run" not in saved:
        wanted.append("continue-as-new")
    if [name for name in wanted if name in TIME_SKIPPING]:
        await record_time_skipping([name for name in wanted if name in TIME_SKIPPING])
    if "continue-as-new" in wanted:
        await record_continue_as_new()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
