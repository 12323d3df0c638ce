"""The state file: a restarted emulator (in process, or a killed child process) has lost nothing, finishes
the operations that were in flight, and still accepts the tokens it issued before."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from azure.mgmt.msi.models import Identity

from localcloud.azure import (
    AzureEmulator,
    AzureEmulatorProcess,
    EmulatorConfig,
    OperationDurations,
    PoolEvent,
)
from localcloud.processes import pid_alive
from tests.azure_emulator.helpers import CLUSTER, RG, agent_pool, control
from tests.waiting import wait_for_async


async def test_in_process_restart_mid_operation(
    emulator: AzureEmulator, aks: ContainerServiceClient, msi: ManagedServiceIdentityClient
) -> None:
    identity = await msi.user_assigned_identities.create_or_update(
        RG, "kaito-worker", Identity(location="eastus")
    )
    emulator.config.durations.pool_create = 0.6
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", agent_pool(2))
    await emulator.stop()

    restarted = AzureEmulator(emulator.config.model_copy(update={"port": emulator.port}))
    events: list[PoolEvent] = []
    await restarted.start()
    try:
        restarted.add_pool_listener(events.append)
        pool = await poller.result()  # the same poller, across the restart
        assert (pool.provisioning_state, pool.count) == ("Succeeded", 2)
        again = await msi.user_assigned_identities.get(RG, "kaito-worker")
        assert (again.client_id, again.principal_id) == (identity.client_id, identity.principal_id)
        assert restarted.requests(op="token.post") == [], "the token issued before the restart still works"

        async def resumed() -> bool:
            return [e.kind for e in events] == ["succeeded"]

        await wait_for_async(resumed, "the resumed operation's event")
        assert [e.seq for e in restarted.cloud.events.since(0)] == [1, 2], "event numbering continues"
    finally:
        await restarted.stop()


async def test_operation_due_while_down_completes_on_start(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    emulator.config.durations.pool_create = 0.05
    await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", agent_pool(1))
    await emulator.cloud.ops.stop()  # the timer never fires in this incarnation
    await emulator.stop()
    saved = json.loads(Path(str(emulator.config.state_file)).read_text())
    assert [op["status"] for op in saved["operations"].values()] == ["InProgress"]

    restarted = AzureEmulator(emulator.config.model_copy(update={"port": 0}))
    await restarted.start()
    try:

        async def completed() -> bool:
            return [p.provisioning_state for p in restarted.agent_pools() if p.name == "gpu"] == ["Succeeded"]

        await wait_for_async(completed, "the overdue operation to complete after start")
    finally:
        await restarted.stop()


async def test_killed_process_restarts_from_its_state_file(tmp_path: Path) -> None:
    durations = OperationDurations.uniform(0.2)
    durations.pool_create = 1.5  # still in flight when the process is killed
    config = EmulatorConfig(
        state_file=tmp_path / "state.json", durations=durations, send_retry_after=False, poll_hint_ms=20
    )
    proc = AzureEmulatorProcess(config, log_file=tmp_path / "emulator.log")
    await proc.start()
    try:
        killed_pid = proc.pid
        cred = proc.operator_credential()
        async with (
            cred,
            ContainerServiceClient(cred, config.subscription_id, **proc.client_kwargs()) as aks,
            ManagedServiceIdentityClient(cred, config.subscription_id, **proc.client_kwargs()) as msi,
        ):
            identity = await msi.user_assigned_identities.create_or_update(
                RG, "kaito-worker", Identity(location="eastus")
            )
            poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", agent_pool(1))
            assert await proc.kill() == -signal.SIGKILL
            assert not pid_alive(killed_pid), "kill() returns once the process is reaped"
            await proc.start()
            assert proc.pid != killed_pid
            pool = await poller.result()
            assert pool.provisioning_state == "Succeeded"
            again = await msi.user_assigned_identities.get(RG, "kaito-worker")
            assert again.client_id == identity.client_id
    finally:
        assert await proc.stop() == 0
    assert not pid_alive(proc.pid), "stop() returns once the process has exited"


async def test_cli_entry_prints_url_and_ca(tmp_path: Path) -> None:
    state = tmp_path / "cli-state.json"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "localcloud.azure",
        "--port",
        "0",
        "--state-file",
        str(state),
        "--issuer",
        "https://issuer.example/kaito/",
        "--operation-seconds",
        "0.1",
        "--cluster",
        "dev-aks",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        info = json.loads(await asyncio.wait_for(child.stdout.readline(), 30))
        assert info["url"].startswith("https://127.0.0.1:") and Path(info["caFile"]).exists()
        assert info["pid"] == child.pid
        status, health = await control(info["url"], info["caFile"], "GET", "/_emulator/health")
        assert status == 200 and health["clusters"][0].endswith("/managedClusters/dev-aks")
        status, settings = await control(info["url"], info["caFile"], "GET", "/_emulator/settings")
        assert settings["durations"]["pool_create"] == 0.1
    finally:
        os.kill(child.pid, signal.SIGTERM)
        assert await asyncio.wait_for(child.wait(), 30) == 0
    assert json.loads(state.read_text())["version"] == 1
