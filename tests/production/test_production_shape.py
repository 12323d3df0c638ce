"""The production shape, here for real: the Temporal server built from Go modules on Debian's PostgreSQL
(schema applied with the server's own temporal-sql-tool), its frontend requiring client certificates
(trustme), and the local cloud's workers and controllers connecting with theirs.

One cluster start serves every check, in order: clients without a (valid) certificate are refused and
the settings' mTLS mode connects; the UI server reaches the frontend; a Workspace applied with kubectl is
provisioned end to end while two provisioning workers poll, the one holding the workflow SIGKILLed during
the GPU wait; the Temporal server is restarted and the workflow's history, visibility and search
attributes are all there, and the reconnected workers and controllers delete the Workspace.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
import yaml
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.service import RPCError

from connections.temporal import TemporalMode, TemporalSettings, connect, load_settings
from localcloud.processes import stop_process
from localcloud.stack import LocalCloud, LocalCloudOptions
from localcloud.supervision import hold, release
from localcloud.temporal_cluster import TemporalCluster
from localcloud.temporal_cluster_tls import SERVER_NAME
from tests.conftest import ROOT
from tests.e2e.conftest import example
from tests.waiting import wait_for_async
from workflows.workspace_contracts import STATUS_QUERY, TASK_QUEUE, Phase, WorkspaceStatus
from workflows.workspace_spec import workflow_id_for

pytestmark = [pytest.mark.controlplane, pytest.mark.temporalserver]

NAME = "prod-phi"
WORKFLOW_ID = workflow_id_for("default", NAME)
BOOT_SECONDS = 8.0  # the GPU nodes' boot: the wait during which a worker is killed


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[LocalCloud]:
    options = LocalCloudOptions(state_dir=tmp_path / "cloud", temporal="postgres", boot_delay=BOOT_SECONDS)
    local = LocalCloud(options)
    try:
        yield await local.start()
    finally:
        await local.stop()
        assert isinstance(local.temporal, TemporalCluster)
        local.temporal.postgres.discard()


def _cluster(cloud: LocalCloud) -> TemporalCluster:
    assert isinstance(cloud.temporal, TemporalCluster)
    return cloud.temporal


def kubectl(cloud: LocalCloud, *args: str, stdin: str | None = None) -> str:
    assert cloud.control_plane is not None and cloud.control_plane.bin_dir is not None
    done = subprocess.run(
        [str(cloud.control_plane.bin_dir / "kubectl"), f"--kubeconfig={cloud.control_plane.kubeconfig}",
         *args],
        input=stdin, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


async def pollers(client: Client) -> set[str]:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {poller.identity.split("@")[0] for poller in described.pollers}


async def status(client: Client) -> WorkspaceStatus | None:
    try:
        answer: WorkspaceStatus = await client.get_workflow_handle(WORKFLOW_ID).query(
            STATUS_QUERY, result_type=WorkspaceStatus
        )
        return answer
    except RPCError:
        return None


def task_completions(history: WorkflowHistory) -> list[tuple[datetime, str]]:
    """When each workflow task was completed, and the PID of the worker that completed it, in order."""
    return [
        (
            event.event_time.ToDatetime(tzinfo=UTC),
            event.workflow_task_completed_event_attributes.identity.split("@")[0],
        )
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]


async def refused(settings: TemporalSettings) -> str:
    with pytest.raises(RuntimeError) as error:
        client = await connect(settings)
        await client.count_workflows()
    return str(error.value)


async def test_production_shape_on_postgres_with_mtls(
    cloud: LocalCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = _cluster(cloud)
    assert cloud.client is not None
    client = cloud.client
    assert cluster.certs is not None
    figures: dict[str, Any] = {"local cloud start (s)": round(cloud.timings["total"], 1)}

    # --- no certificate, no entry ------------------------------------------------------------------------
    without_cert = TemporalSettings(
        address=cluster.address, tls_server_ca=cluster.certs.ca, tls_server_name=SERVER_NAME
    )
    assert without_cert.mode is TemporalMode.TLS
    await refused(without_cert)
    await refused(TemporalSettings(address=cluster.address))  # plain gRPC to a TLS port
    rogue = trustme.CA().issue_cert("kaito-client.local")
    rogue.cert_chain_pems[0].write_to_path(str(tmp_path / "rogue.pem"))
    rogue.private_key_pem.write_to_path(str(tmp_path / "rogue-key.pem"))
    await refused(
        without_cert.model_copy(
            update={"tls_client_cert": tmp_path / "rogue.pem", "tls_client_key": tmp_path / "rogue-key.pem"}
        )
    )
    # The mTLS mode, read from the environment exactly as a worker reads it, connects.
    for key, value in cluster.client_env().items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.mode is TemporalMode.MTLS
    assert await (await connect(settings)).count_workflows() is not None

    # --- the UI server reaches the frontend over mTLS ----------------------------------------------------
    url = f"{cluster.ui_url}/api/v1/namespaces/default"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["namespaceInfo"]["name"] == "default"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{cluster.ui_url}/namespaces/default") as page,
    ):
        assert page.status == 200 and "<html" in (await page.text()).lower(), "the UI's embedded assets"

    # --- two provisioning workers; the one holding the workflow is SIGKILLed in the GPU wait -------------
    log = (cloud.logs / "worker-2.log").open("ab")
    second = subprocess.Popen(
        [sys.executable, "-m", "worker"], env={**cloud.worker_env(), **cluster.client_env()},
        cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        first = cloud.processes["worker"]
        workers = {str(first.pid), str(second.pid)}
        await wait_for_async(
            lambda: _superset(pollers(client), workers), "both provisioning workers to poll", timeout=90
        )
        manifest = example("workspace-phi-3-mini.yaml", name=NAME, namespace="default")
        await asyncio.to_thread(kubectl, cloud, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
        waiting = await wait_for_async(
            lambda: _holding_nothing(client), "the GPU wait, no activity running", timeout=120, interval=0.05
        )
        assert waiting.phase is Phase.WAITING_FOR_NODES
        before_kill = task_completions(await client.get_workflow_handle(WORKFLOW_ID).fetch_history())
        holder = before_kill[-1][1]  # the worker whose sticky cache holds the workflow
        assert holder in workers
        # The local cloud restarts a dead worker, as a Deployment would: held down here, so that the
        # survivor alone can finish the workflow.
        hold(cloud.state_dir, "worker")
        os.kill(int(holder), signal.SIGKILL)
        killed_at, killed_clock = time.monotonic(), datetime.now(UTC)
        survivor = (workers - {holder}).pop()
        figures["workers"] = {"killed": holder, "survivor": survivor}

        ready = await wait_for_async(
            lambda: _in_phase(client, Phase.READY), "Ready after the SIGKILL", timeout=180, interval=0.2
        )
        assert ready.state == "Ready"
        figures["SIGKILL to Ready (s)"] = round(time.monotonic() - killed_at, 1)
        shown = json.loads(await asyncio.to_thread(kubectl, cloud, "get", "workspace", NAME, "-o", "json"))
        assert shown["status"]["state"] == "Ready"
        after_kill = task_completions(await client.get_workflow_handle(WORKFLOW_ID).fetch_history())
        # A task the holder was completing in the instant of the kill may be recorded just after it.
        later = [pid for at, pid in after_kill if at > killed_clock + timedelta(seconds=1)]
        assert later and set(later) == {survivor}, f"the surviving worker finished it: {after_kill}"
        release(cloud.state_dir, "worker")

        # --- the Temporal server restarted: nothing lost ---------------------------------------------------
        handle = client.get_workflow_handle(WORKFLOW_ID)
        history = await handle.fetch_history()
        described = await handle.describe()
        began = time.monotonic()
        restarted = await cluster.restart_server()
        figures["server restart (s)"] = round(time.monotonic() - began, 1)
        again = restarted.get_workflow_handle(WORKFLOW_ID)
        assert (await again.fetch_history()).events == history.events
        redescribed = await again.describe()
        assert (redescribed.run_id, redescribed.status) == (described.run_id, WorkflowExecutionStatus.RUNNING)
        listed = [
            w.id async for w in restarted.list_workflows(f'KaitoWorkspace="{NAME}" AND KaitoPhase="Ready"')
        ]
        assert listed == [WORKFLOW_ID], "visibility and search attributes on PostgreSQL survive the restart"
        answered = await wait_for_async(
            lambda: _in_phase(restarted, Phase.READY), "the surviving worker to answer again", timeout=60
        )
        assert answered.agent_pool == ready.agent_pool

        # --- the reconnected controllers and worker take the delete to its end ----------------------------
        await asyncio.to_thread(kubectl, cloud, "delete", "workspace", NAME, "--timeout=120s")
        await wait_for_async(lambda: _completed(restarted), "the workflow to finish the delete", timeout=120)
        pool = f"kubernetes.azure.com/agentpool={ready.agent_pool}"
        await wait_for_async(
            lambda: _no_output(cloud, "get", "nodes", "-l", pool, "-o", "name"), f"the nodes of {pool} gone",
            timeout=60, explain=lambda: kubectl(cloud, "get", "nodes,workspaces", "-A", "--show-labels"),
        )  # fmt: skip
    finally:
        stop_process(second)
        log.close()
    print(f"\nproduction shape: {figures}")


async def _superset(found: Awaitable[set[str]], wanted: set[str]) -> bool:
    return wanted <= await found


async def _in_phase(client: Client, phase: Phase) -> WorkspaceStatus | None:
    current = await status(client)
    if current is not None and current.phase is Phase.FAILED:
        raise AssertionError(f"the workspace failed: {current.message}")
    return current if current is not None and current.phase is phase else None


async def _holding_nothing(client: Client) -> WorkspaceStatus | None:
    """In the durable GPU wait with its first recount done: the workflow holds no activity, only a timer
    and the wait for the controllers' signal."""
    current = await _in_phase(client, Phase.WAITING_FOR_NODES)
    if current is None:
        return None
    described = await client.get_workflow_handle(WORKFLOW_ID).describe()
    return None if described.raw_description.pending_activities else current


async def _completed(client: Client) -> bool:
    described = await client.get_workflow_handle(WORKFLOW_ID).describe()
    return described.status == WorkflowExecutionStatus.COMPLETED


async def _no_output(cloud: LocalCloud, *args: str) -> bool:
    """kubectl in a thread: the GPU bridge and the stand-ins run on this event loop."""
    return not (await asyncio.to_thread(kubectl, cloud, *args)).strip()
