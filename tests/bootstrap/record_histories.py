"""Record the bootstrap workflow's history for the replay test: `python -m tests.bootstrap.record_histories`.

Re-record only on purpose: a saved history is the contract that a bootstrap running during a deploy keeps
replaying. A change that breaks replay needs `workflow.patched`, not a new recording.
"""

import asyncio
import uuid
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.bootstrap.fakes import FakeBootstrapCloud
from tests.conftest import venv_binary
from workflows.bootstrap_contracts import BootstrapRequest
from workflows.bootstrap_workflow import BootstrapWorkflow

HISTORIES = Path(__file__).parent / "histories"
REQUEST = BootstrapRequest(subscription_id="sub", resource_group="rg", cluster_name="aks")


async def record() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(venv_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    try:
        cloud = FakeBootstrapCloud(principal_not_found=2)
        queue = f"bootstrap-{uuid.uuid4()}"
        async with Worker(
            env.client, task_queue=queue, workflows=[BootstrapWorkflow], activities=cloud.activities()
        ):
            handle = await env.client.start_workflow(
                BootstrapWorkflow.run, REQUEST, id=REQUEST.workflow_id, task_queue=queue
            )
            await handle.result()
            history = await handle.fetch_history()
        (HISTORIES / "bootstrap-principal-not-found-twice.json").write_text(history.to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
