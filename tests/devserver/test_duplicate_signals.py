"""The controllers' readiness signals arrive more than once, back to back: each phase still runs once.

On the real dev server: signals that land while the workflow's task is in flight are buffered as the
real server does (the time-skipping test server now and then wedges such a task).
"""

from temporalio.testing import WorkflowEnvironment

from tests.workflow.conftest import running_worker, wait_for_phase
from tests.workflow.fakes import FakeCloud
from tests.workflow.test_workspace_workflow import start
from workflows.workspace_contracts import (
    ActivityName,
    NodeReadiness,
    Phase,
    SignalName,
    WorkloadReadiness,
)


async def test_duplicate_signals_are_harmless(dev_server: WorkflowEnvironment) -> None:
    env, cloud = dev_server, FakeCloud()
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq)
        await wait_for_phase(handle, Phase.WAITING_FOR_NODES)
        readiness = NodeReadiness(ready=1, nodes=["aks-n-0-vmss000000"])
        for _ in range(3):
            await handle.signal(SignalName.NODES_READY, readiness)
        await wait_for_phase(handle, Phase.WAITING_FOR_INFERENCE)
        for _ in range(3):
            await handle.signal(SignalName.NODES_READY, readiness)
            await handle.signal(SignalName.INFERENCE_READY, WorkloadReadiness(ready_replicas=1, replicas=1))
        status = await wait_for_phase(handle, Phase.READY)
        await handle.signal(SignalName.DELETE)
        await handle.result()
    assert status.ready_nodes == 1 and status.worker_nodes == ["aks-n-0-vmss000000"]
    assert cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 1
    assert cloud.calls[ActivityName.ENSURE_INFERENCE] == 1
    assert cloud.calls[ActivityName.CHECK_HEALTH] == 1
