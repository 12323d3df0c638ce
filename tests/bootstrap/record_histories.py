"""Record the bootstrap workflow's histories for the replay test, one per branch:
`python -m tests.bootstrap.record_histories [NAME ...]` (no name: the branches not saved yet).

Never re-record an existing one: a saved history is the contract that a bootstrap running during a deploy
keeps replaying. A change that breaks replay needs `workflow.patched`, not a new recording.
"""

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path

from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.bootstrap.fakes import FakeBootstrapCloud
from tests.conftest import venv_binary
from workflows import identity_contracts as contracts
from workflows.bootstrap_contracts import BootstrapRequest
from workflows.bootstrap_workflow import BootstrapWorkflow

HISTORIES = Path(__file__).parent / "histories"
REQUEST = BootstrapRequest(subscription_id="sub", resource_group="rg", cluster_name="aks")


# Each branch: the fake cloud it runs against. A new branch is a new row (and a recording of it).
BRANCHES: dict[str, FakeBootstrapCloud] = {
    # a first bootstrap whose new principal is not replicated yet: the role assignment is retried
    "bootstrap-principal-not-found-twice": FakeBootstrapCloud(principal_not_found=2),
    # the same cluster bootstrapped again: every step finds its object in place, nothing changes
    "bootstrap-nothing-to-change": FakeBootstrapCloud(already_done=True),
    # the operator may not assign roles: a final authorization failure names the step
    "bootstrap-role-refused": FakeBootstrapCloud(
        final_failure_at=contracts.IdentityActivity.ENSURE_ROLE_ASSIGNMENT
    ),
}


async def record(names: list[str]) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(venv_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    try:
        for name in names:
            cloud = BRANCHES[name]
            queue = f"bootstrap-{uuid.uuid4()}"
            async with Worker(
                env.client, task_queue=queue, workflows=[BootstrapWorkflow], activities=cloud.activities()
            ):
                handle = await env.client.start_workflow(
                    BootstrapWorkflow.run, REQUEST, id=f"{REQUEST.workflow_id}/{name}", task_queue=queue
                )
                with contextlib.suppress(WorkflowFailureError):  # a failing branch is recorded as it fails
                    await handle.result()
                history = await handle.fetch_history()
            (HISTORIES / f"{name}.json").write_text(history.to_json())
            print(f"recorded {name}")
    finally:
        await env.shutdown()


def missing() -> list[str]:
    return [name for name in BRANCHES if not (HISTORIES / f"{name}.json").exists()]


if __name__ == "__main__":
    asked = sys.argv[1:] or missing()
    existing = [name for name in asked if (HISTORIES / f"{name}.json").exists()]
    if existing:
        raise SystemExit(f"refusing to re-record {', '.join(existing)}: saved histories are contracts")
    asyncio.run(record(asked))
