"""`kaitoctl workspace apply` against the dev server: one workflow per workspace, nothing on bad input."""

import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.cli.test_kaitoctl import BAD_INPUTS, write
from tests.conftest import ROOT
from tests.devserver.conftest import target_of
from tests.devserver.test_temporal_cli_start import run
from tests.waiting import wait_for_async
from tests.workflow.conftest import wait_for_phase
from tests.workflow.fakes import FakeCloud
from workflows.workspace_contracts import TASK_QUEUE, Phase
from workflows.workspace_workflow import WorkspaceWorkflow


async def kaitoctl(env: WorkflowEnvironment, *argv: str) -> tuple[int, str, str]:
    return await run(sys.executable, "-m", "kaitoctl", *argv, env={"KAITO_TEMPORAL_ADDRESS": target_of(env)})


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
async def test_apply_of_bad_input_starts_nothing(
    case: str, dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    manifest, expected = BAD_INPUTS[case]
    code, out, err = await kaitoctl(dev_server, "workspace", "apply", "-f", str(write(tmp_path, manifest)))
    assert code == 2
    assert expected in err and err.count("error:") == 1 and "Traceback" not in err + out
    assert (await dev_server.client.count_workflows()).count == 0


async def test_apply_twice_is_one_workflow_then_get_and_delete(dev_server: WorkflowEnvironment) -> None:
    manifest = ROOT / "examples" / "workspace-phi-3-mini.yaml"
    cloud = FakeCloud(ready_nodes=1, ready_replicas=1)
    client = dev_server.client
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[WorkspaceWorkflow], activities=cloud.activities()
    ):
        for _ in range(2):
            code, out, err = await kaitoctl(dev_server, "workspace", "apply", "-f", str(manifest))
            assert code == 0, err
            assert "workflow workspace/default/workspace-phi-3-mini" in out
        handle = client.get_workflow_handle("workspace/default/workspace-phi-3-mini")
        await wait_for_phase(handle, Phase.READY)

        async def one_run() -> bool:
            return (
                await client.count_workflows('WorkflowId = "workspace/default/workspace-phi-3-mini"')
            ).count == 1

        await wait_for_async(one_run, "visibility to list the workflow", timeout=15.0)
        code, out, err = await kaitoctl(dev_server, "workspace", "get", "workspace-phi-3-mini")
        assert code == 0, err
        assert "Ready" in out and "Standard_NV36ads_A10_v5" in out and "WorkspaceSucceeded" in out

        code, out, err = await kaitoctl(dev_server, "workspace", "delete", "workspace-phi-3-mini")
        assert code == 0, err
        result = await handle.result()
    assert result["phase"] == "Deleted"
    assert cloud.calls["ensure_agent_pool"] == 1 and cloud.calls["delete_agent_pool"] == 1


async def test_get_of_an_unknown_workspace_says_so(dev_server: WorkflowEnvironment) -> None:
    code, _, err = await kaitoctl(dev_server, "workspace", "get", "nope")
    assert code == 1 and "workspace default/nope" in err and "Traceback" not in err
