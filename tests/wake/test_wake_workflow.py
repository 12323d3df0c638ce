"""The wake on the time-skipping server: the suspend routes the Service to the gateway and the resume
routes it back, in the same flow; many `wake` updates make one resume; a failed resume or a delete
answers every waiting caller; a woken workspace's idle clock starts again at the wake."""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from tests.workflow.conftest import query_status, running_worker, wait_for_phase
from tests.workflow.fakes import FakeCloud
from tests.workflow.test_scale_to_zero import start_workspace, suspend, sweep, workspace_in
from workflows.workspace_contracts import (
    WAKE_QUERY,
    ActivityName,
    Phase,
    SignalName,
    SuspendRequest,
    UpdateName,
    WakeAnswer,
    WakeRequest,
)

Handle = WorkflowHandle[Any, Any]


async def wake(handle: Handle) -> WakeAnswer:
    answer: WakeAnswer = await handle.execute_update(UpdateName.WAKE, WakeRequest(), result_type=WakeAnswer)
    return answer


async def test_suspend_routes_to_the_gateway_and_fifty_wakes_make_one_resume(
    env: WorkflowEnvironment,
) -> None:
    cloud = FakeCloud(auto=True)
    async with workspace_in(env, cloud, "sleepy") as handle:
        await suspend(handle)
        assert cloud.routes == [("sleepy", True)], "the suspend's last step routes the Service to the gateway"
        told: WakeAnswer = await handle.query(WAKE_QUERY, result_type=WakeAnswer)
        assert not told.ready and told.phase == Phase.SUSPENDED and told.eta_seconds is not None

        answers = await asyncio.gather(*(wake(handle) for _ in range(50)))
        assert all(a.ready and a.phase == Phase.READY for a in answers)
        assert cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 2, "the first bring-up and ONE resume"
        assert cloud.routes == [("sleepy", True), ("sleepy", False)], "routed back to the model once"
        assert cloud.applied_routed == [False, True], "the resume's apply keeps the gateway's routing"

        again = await wake(handle)  # a late request that still reached the gateway: answered at once
        assert again.ready and cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 2
        status = await query_status(handle)
        assert status.last_traffic_at is not None, "the wake counts as traffic"


async def test_a_failed_wake_answers_every_caller_and_stays_suspended_and_routed(
    env: WorkflowEnvironment,
) -> None:
    cloud = FakeCloud(auto=True, pool_refused_on_call=2, pool_refusal="AuthorizationFailed")
    async with workspace_in(env, cloud, "refused") as handle:
        await suspend(handle)
        answers = await asyncio.gather(*(wake(handle) for _ in range(5)))
        assert all(not a.ready and a.phase == Phase.SUSPENDED for a in answers)
        assert all("AuthorizationFailed" in a.reason for a in answers), answers[0].reason
        assert cloud.pool_counts[-1] == ("refused", 0), "no GPU left running"
        assert cloud.routes == [("refused", True)], "never routed to the model: the gateway keeps it"


async def test_a_failed_health_check_routes_the_service_back_to_the_gateway(env: WorkflowEnvironment) -> None:
    cloud = FakeCloud(auto=True)
    async with workspace_in(env, cloud, "unhealthy") as handle:
        await suspend(handle)
        gate = asyncio.Event()
        cloud.gates[ActivityName.CHECK_HEALTH] = gate  # held, then it fails for good: see below
        waking = asyncio.create_task(wake(handle))
        await wait_for_phase(handle, Phase.HEALTH_CHECKING)
        assert cloud.routes[-1] == ("unhealthy", False), "routed to the model before the health check"
        cloud.health_fails = True
        gate.set()
        answer = await waking
        assert not answer.ready and answer.phase == Phase.SUSPENDED
        assert cloud.routes[-1] == ("unhealthy", True), "a failed resume routes to the gateway again"


async def test_delete_while_a_wake_waits_answers_it_and_removes_everything(env: WorkflowEnvironment) -> None:
    cloud = FakeCloud(auto=True)
    async with workspace_in(env, cloud, "doomed") as handle:
        await suspend(handle)
        gate = asyncio.Event()
        cloud.gates[ActivityName.ENSURE_AGENT_POOL] = gate
        update = await handle.start_update(
            UpdateName.WAKE,
            WakeRequest(),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            result_type=WakeAnswer,
        )
        await wait_for_phase(handle, Phase.CREATING_NODE_POOL)
        await handle.signal(SignalName.DELETE)
        answer = await update.result()
        gate.set()
        assert not answer.ready and "being deleted" in answer.reason
        assert (await handle.result()).phase == Phase.DELETED
    assert (
        cloud.calls[ActivityName.DELETE_INFERENCE] == 1 and cloud.calls[ActivityName.DELETE_AGENT_POOL] == 1
    )


async def test_a_woken_workspace_is_not_suspended_by_the_next_sweep(env: WorkflowEnvironment) -> None:
    """Suspended and woken between two sweeps: the counter looks unmoved since before the suspend, but
    the idle clock starts at the wake, so the next sweep keeps it."""
    cloud = FakeCloud(auto=True)
    window = timedelta(hours=3)
    async with running_worker(env.client, cloud) as tq:
        handle = await start_workspace(env, tq, "woken")
        await wait_for_phase(handle, Phase.READY)
        with env.auto_time_skipping_disabled():
            first = await sweep(env, tq, None, window)
            assert "default/woken" in first.checked
            await env.sleep(timedelta(hours=2))
            await handle.signal(SignalName.SUSPEND, SuspendRequest(reason="by hand"))
            await wait_for_phase(handle, Phase.SUSPENDED)
            assert (await wake(handle)).ready
            await env.sleep(timedelta(hours=2))  # 4 h after the counter last moved, 2 h after the wake
            second = await sweep(env, tq, first, window)
            assert "default/woken" in second.checked and "default/woken" not in second.suspended
            await env.sleep(timedelta(hours=1, minutes=1))  # now 3 h after the wake
            third = await sweep(env, tq, second, window)
            assert "default/woken" in third.suspended, "idle for the window since the wake"
