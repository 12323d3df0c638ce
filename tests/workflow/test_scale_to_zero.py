"""Scale to zero on the time-skipping server: suspend after the idle window (not before), resume,
opt-out, delete while suspended, a continued-as-new suspended run — and a week of hourly sweeps."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.conftest import load_example
from tests.workflow.conftest import query_status, running_worker, wait_for_phase
from tests.workflow.fakes import FakeCloud
from workflows import conditions as cond
from workflows.sweep_contracts import (
    ANNOTATION_IDLE_WINDOW,
    ANNOTATION_SCALE_TO_ZERO,
    SweepInput,
    SweepResult,
)
from workflows.sweep_workflow import ScaleToZeroSweep
from workflows.workspace_contracts import (
    ActivityName,
    Phase,
    SignalName,
    SuspendRequest,
    UpdateName,
    WorkspaceStatus,
)
from workflows.workspace_validation import parse_workspace
from workflows.workspace_workflow import WorkspaceWorkflow

HOUR = timedelta(hours=1)
Handle = WorkflowHandle[Any, Any]


async def start_workspace(env: WorkflowEnvironment, task_queue: str, name: str) -> WorkflowHandle[Any, Any]:
    manifest = load_example("workspace-falcon-7b.yaml")
    manifest["metadata"] = {"name": name, "namespace": "default"}
    return await env.client.start_workflow(
        WorkspaceWorkflow.run,
        parse_workspace(manifest),
        id=f"workspace/default/{name}",
        task_queue=task_queue,
    )


@asynccontextmanager
async def workspace_in(env: WorkflowEnvironment, cloud: FakeCloud, name: str) -> AsyncIterator[Handle]:
    """A worker on `cloud`, and the workflow of workspace `name` started on it."""
    async with running_worker(env.client, cloud) as task_queue:
        yield await start_workspace(env, task_queue, name)


async def sweep(
    env: WorkflowEnvironment, task_queue: str, previous: SweepResult | None, window: timedelta
) -> SweepResult:
    """One scheduled run, handing over the last result as the Schedule would."""
    result: SweepResult = await env.client.execute_workflow(
        ScaleToZeroSweep.run,
        SweepInput(idle_window=window, previous=previous.state if previous else None),
        id=f"sweep-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )
    return result


async def suspend(handle: WorkflowHandle[Any, Any], reason: str = "idle") -> WorkspaceStatus:
    """Once the workspace is Ready, ask it to scale to zero; the status once it is Suspended."""
    await wait_for_phase(handle, Phase.READY)
    await handle.signal(SignalName.SUSPEND, SuspendRequest(reason=reason))
    return await wait_for_phase(handle, Phase.SUSPENDED)


async def resume(handle: WorkflowHandle[Any, Any]) -> WorkspaceStatus:
    status: WorkspaceStatus = await handle.execute_update(UpdateName.RESUME, result_type=WorkspaceStatus)
    return status


async def test_suspend_keeps_the_spec_and_resume_comes_back_through_the_gpu_wait(
    env: WorkflowEnvironment,
) -> None:
    cloud = FakeCloud(auto=True)
    async with workspace_in(env, cloud, "falcon") as handle:
        status = await suspend(handle, "no inference requests for 30m")
        assert status.state == cond.STATE_SUSPENDED and status.suspended_since is not None
        suspended = next(c for c in status.conditions if c.type == cond.SUSPENDED)
        assert suspended.status == cond.TRUE and "no inference requests for 30m" in suspended.message
        assert cloud.pool_counts[-1] == ("falcon", 0) and cloud.replicas["falcon"] == 0
        assert (
            ActivityName.DELETE_AGENT_POOL not in cloud.calls
            and ActivityName.DELETE_INFERENCE not in cloud.calls
        )

        await env.sleep(timedelta(hours=10))
        status = await resume(handle)
        assert status.phase == Phase.READY and status.suspended_since is None
        assert status.gpu_hours_saved == pytest.approx(20.0, abs=0.1), "10 h × 1 node × 2 GPUs"
        assert status.usd_saved == pytest.approx(61.2, abs=0.5), "10 h × $6.12"
    assert cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 2, "resume goes through the same pool step"
    assert cloud.calls[ActivityName.COUNT_READY_NODES] >= 3


async def test_resume_is_refused_unless_suspended_and_suspend_only_applies_when_ready(
    env: WorkflowEnvironment,
) -> None:
    cloud = FakeCloud(auto=True)
    async with workspace_in(env, cloud, "busy") as handle:
        await wait_for_phase(handle, Phase.READY)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await resume(handle)
        assert "is Ready, not Suspended" in str(refused.value.cause)
    assert ActivityName.SCALE_AGENT_POOL not in cloud.calls


async def test_delete_while_suspended_removes_everything(env: WorkflowEnvironment) -> None:
    cloud = FakeCloud(auto=True)
    async with workspace_in(env, cloud, "gone") as handle:
        await suspend(handle)
        await handle.signal(SignalName.DELETE)
        result = await handle.result()
    assert result.phase == Phase.DELETED
    assert (
        cloud.calls[ActivityName.DELETE_INFERENCE] == 1 and cloud.calls[ActivityName.DELETE_AGENT_POOL] == 1
    )
    assert cloud.calls[ActivityName.DELETE_OBJECT] == 1


async def test_a_week_of_hourly_sweeps(env: WorkflowEnvironment) -> None:
    """Weekday traffic 09-17 h; nights and the weekend idle. The 3 h window suspends each evening at
    the first sweep at least 3 h after the last request — never before — and users resume in the
    morning. The opted-out workspace and the one with a 24 h window of its own never scale down."""
    cloud = FakeCloud(auto=True)
    cloud.annotations = {
        "optout": {ANNOTATION_SCALE_TO_ZERO: "false"},
        "patient": {ANNOTATION_IDLE_WINDOW: "1d"},
    }
    window = timedelta(hours=3)
    async with running_worker(env.client, cloud) as tq:
        handles = {name: await start_workspace(env, tq, name) for name in ("office", "optout", "patient")}
        for handle in handles.values():
            await wait_for_phase(handle, Phase.READY)
        # Time moves only by the hour, as the schedule would fire: no automatic skipping while a sweep runs.
        with env.auto_time_skipping_disabled():
            last_request_hour = 1  # idleness is measured from the first sweep that saw the counter
            suspensions: list[tuple[int, int]] = []  # (hour suspended, hours since the last request)
            previous: SweepResult | None = None
            for hour in range(1, 7 * 24 + 1):
                await env.sleep(HOUR)
                weekday, clock = divmod(hour, 24)
                working = weekday < 5 and 9 <= clock < 17
                office = await query_status(handles["office"])
                if working and office.phase == Phase.SUSPENDED:
                    await resume(handles["office"])  # the first user of the day
                if working:
                    cloud.traffic["office"] = cloud.traffic.get("office", 0) + 5
                    last_request_hour = hour
                cloud.traffic["optout"] = cloud.traffic.get("optout", 0)
                previous = await sweep(env, tq, previous, window)
                if "default/office" in previous.suspended:
                    suspensions.append((hour, hour - last_request_hour))
                    await wait_for_phase(handles["office"], Phase.SUSPENDED)
                assert (
                    "default/optout" in previous.opted_out
                    or (await query_status(handles["optout"])).phase != Phase.READY
                )
        final = {name: await query_status(handle) for name, handle in handles.items()}

    assert [idle for _, idle in suspensions] == [3] * len(suspensions), (
        "exactly at the idle window, not before"
    )
    assert len(suspensions) == 6, f"5 weekday evenings + the night before Monday: {suspensions}"
    assert final["optout"].phase == Phase.READY and final["optout"].gpu_hours_saved == 0
    assert final["patient"].phase == Phase.SUSPENDED, "its own 1 d window elapsed once, on the 2nd day"
    assert final["office"].gpu_hours_saved > 2 * 5 * 12, "at least 12 idle night hours × 2 GPUs each weekday"


# phase to catch, the gate that holds the workflow there, what exists by then (pool, workload, object)
PHASES: dict[Phase, tuple[str | None, bool, bool, bool]] = {
    Phase.VALIDATING: (ActivityName.VALIDATE, False, False, False),
    Phase.CREATING_NODE_POOL: (ActivityName.ENSURE_AGENT_POOL, True, False, True),
    Phase.WAITING_FOR_NODES: (None, True, False, True),
    Phase.DEPLOYING: (ActivityName.ENSURE_INFERENCE, True, True, True),
    Phase.WAITING_FOR_INFERENCE: (None, True, True, True),
    Phase.HEALTH_CHECKING: (ActivityName.CHECK_HEALTH, True, True, True),
    Phase.READY: (None, True, True, True),
    Phase.SUSPENDED: (None, True, True, True),
}


@pytest.mark.parametrize("phase", list(PHASES), ids=lambda p: p.value)
async def test_delete_in_any_phase_removes_what_exists_and_completes(
    env: WorkflowEnvironment, phase: Phase
) -> None:
    gate, pool, workload, obj = PHASES[phase]
    cloud = FakeCloud(auto=phase in (Phase.READY, Phase.SUSPENDED, Phase.HEALTH_CHECKING, Phase.DEPLOYING))
    if phase == Phase.WAITING_FOR_INFERENCE:
        cloud.ready_nodes = 1
    if gate:
        cloud.gates[gate] = asyncio.Event()
    async with workspace_in(env, cloud, f"del-{phase.value.lower()}") as handle:
        if phase == Phase.SUSPENDED:
            await suspend(handle)
        await wait_for_phase(handle, phase)
        await handle.signal(SignalName.DELETE)
        result = await handle.result()
        for held in cloud.gates.values():
            held.set()  # let the abandoned attempt finish so the worker can stop
    assert result.phase == Phase.DELETED
    assert (ActivityName.DELETE_AGENT_POOL in cloud.calls) == pool
    assert (ActivityName.DELETE_INFERENCE in cloud.calls) == workload
    assert (ActivityName.DELETE_OBJECT in cloud.calls) == obj


async def test_a_resume_that_fails_leaves_the_workspace_suspended_and_says_why(
    env: WorkflowEnvironment,
) -> None:
    # A refusal no wait can fix (a quota refusal waits for capacity: tests/workflow/test_capacity_wait.py).
    cloud = FakeCloud(auto=True, pool_refused_on_call=2, pool_refusal="AuthorizationFailed")
    async with workspace_in(env, cloud, "no-quota") as handle:
        await suspend(handle)
        status = await resume(handle)
        assert status.phase == Phase.SUSPENDED and "AuthorizationFailed" in status.message
        assert cloud.pool_counts[-1] == ("no-quota", 0), "no GPU left running after the failed resume"
        assert ActivityName.DELETE_AGENT_POOL not in cloud.calls, "nothing deleted: the spec is remembered"
        await handle.signal(SignalName.DELETE)
        assert (await handle.result()).phase == Phase.DELETED
