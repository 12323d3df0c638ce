"""Hostile manifests as the input of `temporal workflow start` (the real CLI and dev server).

Never a stuck workflow: each one ends failed with the refusal as its error, and nothing is created
(the fake cloud records no pool, no workload, no Workspace object).
"""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.conftest import ROOT, venv_binary
from tests.devserver.conftest import dev_server, target_of
from tests.devserver.test_temporal_cli_start import run
from tests.waiting import wait_for_async
from tests.workflow.fakes import FakeCloud
from workflows import search_attributes as sa
from workflows.workspace_contracts import TASK_QUEUE, ActivityName
from workflows.workspace_workflow import WorkspaceWorkflow

__all__ = ["dev_server"]

pytestmark = pytest.mark.devserver

SEED: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "workspace-falcon-7b.yaml").read_text())


def seed(**changes: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(json.dumps(SEED))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = manifest
        for part in parents:
            target = target[part]
        target[leaf] = value
    return manifest


INPUTS: dict[str, tuple[Any, str]] = {
    # name: (the workflow's input, a phrase of the error it ends with)
    "unknown preset": (seed(inference__preset={"name": "falcon-9b"}), "unknown preset 'falcon-9b'"),
    "bad name": (seed(metadata={"name": "Bad_Name"}), "is not a DNS-1123 label"),
    "count far too big": (seed(resource__count=10**15), "more than an AKS node pool holds"),
    "unicode label": (
        seed(resource__labelSelector={"matchLabels": {"apps": "🦙"}}),
        "not a valid label value",
    ),
}


@pytest.mark.parametrize("case", sorted(INPUTS))
async def test_a_refused_manifest_fails_the_workflow_and_creates_nothing(
    dev_server: WorkflowEnvironment, tmp_path: Path, case: str
) -> None:
    manifest, phrase = INPUTS[case]
    input_file = tmp_path / "workspace.json"
    input_file.write_text(json.dumps(manifest))
    cloud = FakeCloud(ready_nodes=1, ready_replicas=1)
    client: Client = dev_server.client
    workflow_id = f"workspace/default/hostile-{abs(hash(case))}"
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[WorkspaceWorkflow], activities=cloud.activities()
    ):
        code, _, err = await run(
            str(venv_binary("temporal")), "workflow", "start", "--address", target_of(dev_server),
            "--type", "WorkspaceWorkflow", "--task-queue", TASK_QUEUE, "--workflow-id", workflow_id,
            "--input-file", str(input_file),
        )  # fmt: skip
        assert code == 0, err
        handle = client.get_workflow_handle(workflow_id)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert phrase in str(failure.value.cause)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    for created in (
        ActivityName.ENSURE_AGENT_POOL,
        ActivityName.ENSURE_INFERENCE,
        ActivityName.ENSURE_OBJECT,
    ):
        assert cloud.calls.get(created, 0) == 0, cloud.calls


async def test_undecodable_input_never_leaves_a_stuck_workflow(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Input the Workspace model cannot decode (a list, a wrong type, an unknown field)."""
    client: Client = dev_server.client
    cloud = FakeCloud(ready_nodes=1, ready_replicas=1)
    bad_inputs = {"list": [1, 2], "wrong-type": seed(resource__count="two"), "unknown": seed(extra=1)}
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[WorkspaceWorkflow], activities=cloud.activities()
    ):
        for name, body in bad_inputs.items():
            input_file = tmp_path / f"{name}.json"
            input_file.write_text(json.dumps(body))
            workflow_id = f"workspace/default/undecodable-{name}"
            code, _, err = await run(
                str(venv_binary("temporal")), "workflow", "start", "--address", target_of(dev_server),
                "--type", "WorkspaceWorkflow", "--task-queue", TASK_QUEUE, "--workflow-id", workflow_id,
                "--input-file", str(input_file),
            )  # fmt: skip
            assert code == 0, err
            handle = client.get_workflow_handle(workflow_id)

            async def closed() -> WorkflowExecutionStatus | None:
                status = (await handle.describe()).status  # noqa: B023
                return status if status != WorkflowExecutionStatus.RUNNING else None

            status = await wait_for_async(closed, f"{workflow_id} to close", timeout=30)
            assert status == WorkflowExecutionStatus.FAILED, name
    assert not any(
        cloud.calls.get(a, 0) for a in (ActivityName.ENSURE_AGENT_POOL, ActivityName.ENSURE_INFERENCE)
    )


@pytest.mark.long
async def test_fuzzed_inputs_never_leave_a_workflow_running_unattended(
    dev_server: WorkflowEnvironment,
) -> None:
    """Fuzzed Workspace-shaped inputs started as the workflow: each one fails, or runs to Ready and is
    deleted; none stays running with its task failing."""
    from hypothesis import HealthCheck, given, settings

    from tests.hostile.test_hostile_manifests import workspaces

    client: Client = dev_server.client
    cloud = FakeCloud(ready_nodes=1000, ready_replicas=1000)
    outcomes: dict[str, int] = {}
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[WorkspaceWorkflow], activities=cloud.activities()
    ):
        examples: list[dict[str, Any]] = []

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(workspaces)
        def collect(manifest: dict[str, Any]) -> None:
            examples.append(manifest)

        collect()
        examples.append(seed(metadata={"name": "fuzz-valid"}))  # and one that must reach Ready
        for index, manifest in enumerate(examples):
            handle = await client.start_workflow(
                "WorkspaceWorkflow", manifest, id=f"workspace/fuzz/{index}", task_queue=TASK_QUEUE
            )

            async def settled() -> str | None:
                described = await handle.describe()  # noqa: B023
                if described.status is not None and described.status != WorkflowExecutionStatus.RUNNING:
                    return str(described.status.name)
                phase = (described.typed_search_attributes.get(sa.PHASE) or "") if described else ""
                return "READY" if phase == "Ready" else None

            outcome = await wait_for_async(settled, f"fuzz example {index} to settle", timeout=30)
            if outcome == "READY":
                await handle.signal("delete")
                await handle.result()
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"\nfuzzed workflow starts: {outcomes}")
    assert set(outcomes) <= {"FAILED", "READY"} and outcomes.get("READY", 0) >= 1, outcomes
