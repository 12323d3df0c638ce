"""After Ready the status follows the pods (issue 11.6): a crash loop or an OOM kill makes InferenceReady
False with that reason at the signal, and the workspace is Ready again when the pod recovers."""

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from temporalio.testing import WorkflowEnvironment

from controllers.signals import pod_problem
from tests.conftest import load_example
from tests.waiting import wait_for_async
from tests.workflow.conftest import running_worker, wait_for_phase, wait_for_status
from tests.workflow.fakes import FakeCloud
from tests.workflow.test_workspace_workflow import start
from workflows import conditions as cond
from workflows.workspace_contracts import (
    ActivityName,
    NodeReadiness,
    Phase,
    PodHealth,
    SignalName,
    WorkspaceStatus,
)
from workflows.workspace_spec import Workspace
from workflows.workspace_validation import parse_workspace


async def written(cloud: FakeCloud, expected: tuple[str, str]) -> None:
    async def check() -> bool:
        return cloud.written(cond.INFERENCE_READY) == expected

    await wait_for_async(check, f"InferenceReady {expected} written to the Workspace", timeout=15)


def inference(status: WorkspaceStatus) -> tuple[str, str, str]:
    found = next(c for c in status.conditions if c.type == cond.INFERENCE_READY)
    return found.status, found.reason, found.message


def crash_looping_pod(last_exit: str) -> dict[str, object]:
    """A pod as the kubelet reports it after the container died twice (`last_exit`: OOMKilled, Error)."""
    return {
        "metadata": {"name": "ws-0"},
        "status": {
            "containerStatuses": [
                {
                    "name": "model",
                    "ready": False,
                    "restartCount": 2,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}},
                    "lastState": {"terminated": {"reason": last_exit, "exitCode": 137}},
                }
            ]
        },
    }


def test_a_crash_loop_and_an_oom_kill_are_read_from_the_pod() -> None:
    reason, message = pod_problem(crash_looping_pod("Error")) or ("", "")
    assert reason == "CrashLoopBackOff" and "restarted 2 time(s), last exit Error (code 137)" in message
    reason, message = pod_problem(crash_looping_pod("OOMKilled")) or ("", "")
    assert reason == "OOMKilled" and "out of memory" in message
    running = {"status": {"containerStatuses": [{"name": "model", "ready": True, "state": {"running": {}}}]}}
    assert pod_problem(running) is None


async def test_the_status_says_the_pod_crash_loops_and_recovers(env: WorkflowEnvironment) -> None:
    cloud = FakeCloud(ready_nodes=1, ready_replicas=1)
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq)
        await wait_for_phase(handle, Phase.READY)
        now = datetime.now(UTC)
        reason, message = pod_problem(crash_looping_pod("OOMKilled")) or ("", "")
        await handle.signal(
            SignalName.POD_HEALTH, PodHealth(pod="ws-0", reason=reason, message=message, observed_at=now)
        )
        status = await wait_for_status(
            handle, lambda s: inference(s)[0] == cond.FALSE, "InferenceReady False after the OOM kill"
        )
        assert inference(status)[1] == "OOMKilled" and "pod ws-0" in inference(status)[2]
        await written(cloud, (cond.FALSE, "OOMKilled"))  # kubectl sees it too
        assert cloud.written(cond.WORKSPACE_SUCCEEDED) == (cond.FALSE, "OOMKilled")

        stale = PodHealth(pod="ws-0", reason=None, observed_at=now - timedelta(seconds=5))
        await handle.signal(SignalName.POD_HEALTH, stale)  # an older observation changes nothing
        later = now + timedelta(seconds=30)
        await handle.signal(SignalName.POD_HEALTH, PodHealth(pod="ws-0", reason=None, observed_at=later))
        status = await wait_for_status(handle, lambda s: inference(s)[0] == cond.TRUE, "Ready again")
        assert status.phase == Phase.READY and status.state == cond.STATE_READY
        await written(cloud, (cond.TRUE, cond.REASON_INFERENCE_READY))
        await handle.signal(SignalName.DELETE)
        await handle.result()


async def test_a_spot_eviction_goes_back_through_the_gpu_wait_then_on_demand(
    env: WorkflowEnvironment,
) -> None:
    """Spot: each eviction (the nodes signal fewer Ready) re-provisions; the third within the hour moves
    the pool to on-demand VMs, as the user allowed."""
    cloud = FakeCloud(auto=True)
    ws = falcon_with(**{"kaito.sh/spot": "true", "kaito.sh/spot-fallback": "true"})
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq, ws)
        status = await wait_for_phase(handle, Phase.READY)
        assert status.spot
        for eviction in range(1, 4):
            await env.sleep(timedelta(minutes=10))
            cloud.nodes[ws.name] = 0  # Azure took the VMs back
            await handle.signal(
                SignalName.NODES_READY,
                NodeReadiness(ready=0, observed_at=datetime.now(UTC) + timedelta(hours=eviction)),
            )
            status = await wait_for_status(handle, partial(recovered, eviction), f"recovered {eviction}")
        await handle.signal(SignalName.DELETE)
        await handle.result()
    assert not status.spot, "on demand after three evictions in the hour"
    assert status.spot_gpu_hours > 0 and status.spot_usd_saved > 0
    assert cloud.calls[ActivityName.DELETE_AGENT_POOL] == 2, "the Spot pool, then the on-demand one"


def recovered(evictions: int, status: WorkspaceStatus) -> bool:
    return status.evictions == evictions and status.phase == Phase.READY


def falcon_with(**annotations: str) -> Workspace:
    data: dict[str, Any] = load_example("workspace-falcon-7b.yaml")
    data["metadata"] = {"name": "spotty", "annotations": annotations}
    return parse_workspace(data)
