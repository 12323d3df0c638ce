"""Record workflow histories for the replay test: `python -m tests.workflow.record_histories`.

Re-record only on purpose: a saved history is the contract that running workflows keep replaying
after a deploy. A change that breaks replay needs `workflow.patched`, not a new recording.
"""

import asyncio
from datetime import timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.conftest import load_example, venv_binary
from tests.workflow.conftest import register_search_attributes, running_worker, wait_for_phase
from tests.workflow.fakes import FakeCloud
from workflows.contracts import NodeReadiness, Phase, SignalName, WorkloadReadiness
from workflows.validation import parse_workspace
from workflows.workspace import WorkspaceWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def record() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(venv_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env.client)
        cloud = FakeCloud(pool_failures=1)
        async with running_worker(env.client, cloud) as tq:
            ws = parse_workspace(load_example("workspace-falcon-7b.yaml"))
            handle = await env.client.start_workflow(
                WorkspaceWorkflow.run, ws, id="workspace/default/workspace-falcon-7b", task_queue=tq
            )
            await wait_for_phase(handle, Phase.WAITING_FOR_NODES)
            await env.sleep(timedelta(minutes=10))
            await handle.signal(SignalName.NODES_READY, NodeReadiness(ready=1, nodes=["aks-n-0-vmss000000"]))
            await wait_for_phase(handle, Phase.WAITING_FOR_INFERENCE)
            await handle.signal(SignalName.INFERENCE_READY, WorkloadReadiness(ready_replicas=1, replicas=1))
            await wait_for_phase(handle, Phase.READY)
            await handle.signal(SignalName.DELETE)
            await handle.result()
            history = await handle.fetch_history()
        (HISTORIES / "provision-ready-delete.json").write_text(history.to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
