"""A user starts a workspace with the real Temporal CLI and the manifest as input, then reads its status."""

import asyncio
import json
import os
import sys
from pathlib import Path

import yaml
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.conftest import ROOT, venv_binary
from tests.devserver.conftest import target_of
from tests.workflow.conftest import wait_for_phase
from tests.workflow.fakes import FakeCloud
from workflows import search_attributes as sa
from workflows.workspace_contracts import TASK_QUEUE, Phase
from workflows.workspace_workflow import WorkspaceWorkflow


async def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_temporal_workflow_start_with_the_manifest_as_input(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    manifest = yaml.safe_load((ROOT / "examples" / "workspace-falcon-7b.yaml").read_text())
    input_file = tmp_path / "workspace.json"
    input_file.write_text(json.dumps(manifest))
    cloud = FakeCloud(ready_nodes=1, ready_replicas=1)
    client: Client = dev_server.client
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[WorkspaceWorkflow], activities=cloud.activities()
    ):
        code, out, err = await run(
            str(venv_binary("temporal")),
            "workflow",
            "start",
            "--address",
            target_of(dev_server),
            "--type",
            "WorkspaceWorkflow",
            "--task-queue",
            TASK_QUEUE,
            "--workflow-id",
            "workspace/default/workspace-falcon-7b",
            "--input-file",
            str(input_file),
        )
        assert code == 0, err
        handle = client.get_workflow_handle("workspace/default/workspace-falcon-7b")
        status = await wait_for_phase(handle, Phase.READY)

        code, out, err = await run(
            sys.executable,
            "-m",
            "kaitoctl",
            "workspace",
            "get",
            "workspace-falcon-7b",
            "-o",
            "json",
            env={"KAITO_TEMPORAL_ADDRESS": target_of(dev_server)},
        )
    assert status.model == "falcon-7b" and status.state == "Ready"
    assert code == 0, err
    shown = json.loads(out)
    assert shown["phase"] == "Ready" and shown["instance_type"] == "Standard_NC12s_v3"
    assert {c["type"]: c["status"] for c in shown["conditions"]}["WorkspaceSucceeded"] == "True"
    described = await handle.describe()
    attributes = described.typed_search_attributes
    assert attributes.get(sa.WORKSPACE) == "workspace-falcon-7b"
    assert attributes.get(sa.MODEL) == "falcon-7b"
    assert attributes.get(sa.PHASE) == "Ready"
