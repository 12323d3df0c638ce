"""The local cloud for durability tests: `python -m localcloud.stack` as `kaitoctl dev up` runs it, with
its supervisor, driven from outside; helpers to kill a component by PID and to watch the supervisor's
record of it (`stack.json`), the workflows (Temporal) and the emulator's request log.

One stack for the whole package (every phase and test shares it); its GPU nodes boot in `BOOT_DELAY`
seconds, so the GPU wait lasts long enough to kill a worker in it.
"""

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from connections.temporal import TemporalSettings, connect
from localcloud.processes import log_tail, pid_alive, stop_process
from localcloud.stack_file import ComponentStatus, StackInfo
from tests.conftest import ROOT
from tests.e2e.conftest import START_TIMEOUT, Stack
from tests.waiting import wait_for, wait_for_async
from workflows.naming import agent_pool_name, headless_service_name
from workflows.workspace_contracts import STATUS_QUERY, Phase, WorkspaceStatus
from workflows.workspace_spec import workflow_id_for

BOOT_DELAY = 20.0


@contextmanager
def stack_process(state: Path, *extra: str) -> Iterator[Stack]:
    """A supervised local cloud in `state`, stopped by PID afterwards; nothing of it may outlive it."""
    log_path = state / "stack.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "localcloud.stack", "--state-dir", str(state), "--ui-port", "0",
         "--temporal-port", "0", "--exit-with-parent", *extra],
        cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def started() -> StackInfo | None:
        if process.poll() is not None:
            raise AssertionError(f"the local cloud exited ({process.returncode}):\n{log_tail(log_path, 60)}")
        return StackInfo.read(state)

    seen: dict[str, int] = {}
    try:
        info = wait_for(
            started, "the local cloud to write stack.json", timeout=START_TIMEOUT,
            explain=lambda: log_tail(log_path, 60),
        )  # fmt: skip
        seen.update(info.pids)
        yield Stack(info=info, state_dir=state)
    finally:
        latest = StackInfo.read(state)
        if latest is not None:  # restarted components have new PIDs
            seen.update({name: c.pid for name, c in latest.components.items() if c.pid})
        stop_process(process, grace=90)
        log.close()
        leftovers = {name: pid for name, pid in seen.items() if pid_alive(pid)}
        for pid in leftovers.values():
            os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"processes outlived the local cloud: {leftovers}"


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack_process(tmp_path_factory.mktemp("localcloud"), "--boot-delay", str(BOOT_DELAY)) as running:
        yield running


def info(stack: Stack) -> StackInfo:
    current = StackInfo.read(stack.state_dir)
    assert current is not None, "stack.json is gone"
    return current


def component(stack: Stack, name: str) -> ComponentStatus:
    return info(stack).components[name]


def kill(stack: Stack, name: str, sig: signal.Signals = signal.SIGKILL) -> tuple[ComponentStatus, float]:
    """Signal component `name` by the PID the supervisor recorded; its status then, and the time."""
    before = component(stack, name)
    assert before.state == "running" and before.alive and before.pid, f"{name} is not running: {before}"
    os.kill(before.pid, sig)
    return before, time.time()


def restarted(stack: Stack, name: str, before: ComponentStatus, timeout: float = 120.0) -> ComponentStatus:
    """Wait until the supervisor reports `name` running again as a new process; that status."""

    def again() -> ComponentStatus | None:
        now = component(stack, name)
        return now if now.state == "running" and now.pid != before.pid and now.alive else None

    return wait_for(
        again, f"the supervisor to restart {name}", timeout=timeout,
        explain=lambda: f"{component(stack, name)}\n{log_tail(stack.state_dir / 'stack.log', 30)}",
    )  # fmt: skip


async def temporal(stack: Stack) -> Client:
    return await connect(TemporalSettings(address=info(stack).temporal))


def handle(client: Client, name: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(workflow_id_for("default", name))


async def status(client: Client, name: str) -> WorkspaceStatus:
    """The workflow's status query, with a deadline (a server being restarted may not answer)."""
    return await asyncio.wait_for(
        handle(client, name).query(STATUS_QUERY, result_type=WorkspaceStatus), timeout=5
    )


async def reaches(stack: Stack, name: str, phase: Phase, timeout: float = 180.0) -> WorkspaceStatus:
    """Wait until workspace `name` is in `phase` (asking a fresh client each time: Temporal may restart)."""

    async def now() -> WorkspaceStatus | None:
        current = await status(await temporal(stack), name)
        if current.phase == Phase.FAILED and phase != Phase.FAILED:
            raise AssertionError(f"{name} failed: {current.message}")
        return current if current.phase == phase else None

    return await wait_for_async(
        now, f"{name} to be {phase.value}", timeout=timeout, interval=0.2,
        tolerate=(Exception,), explain=lambda: stack.explain(name),
    )  # fmt: skip


def emulator(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    """Any method on the emulator's control API (`Stack.azure` does GET and PATCH)."""
    context = ssl.create_default_context(cafile=stack.info.azure_ca)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{stack.info.azure}{path}", data, {"Content-Type": "application/json"}, method=method
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return json.loads(response.read())


def pool_name(name: str) -> str:
    return agent_pool_name("default", name)


def pool_requests(stack: Stack, name: str, method: str) -> list[dict[str, Any]]:
    """The emulator's log of `method` requests on workspace `name`'s agent pool, oldest first."""
    answer = stack.azure(f"/_emulator/requests?op=agentPools.{method.lower()}")
    return [r for r in answer["requests"] if r["path"].rstrip("/").endswith(f"/agentPools/{pool_name(name)}")]


def one_of_each(stack: Stack, name: str) -> None:
    """Exactly one agent pool was created for `name` (one PUT answered 201, or took effect as 201 and
    lost its answer to a dropped connection); its Service, headless Service and StatefulSet exist once
    each, and nothing else carries its label."""
    created = [r for r in pool_requests(stack, name, "put") if 201 in (r["status"], r.get("dropped_status"))]
    assert len(created) == 1, f"agent pool {pool_name(name)} created {len(created)} times: {created}"
    pools = [p for p in stack.gpu_pools() if p["name"] == pool_name(name)]
    assert len(pools) == 1, pools
    expected = {"services": [f"service/{name}", f"service/{headless_service_name(name)}"],
                "statefulsets": [f"statefulset.apps/{name}"]}  # fmt: skip
    for kind, names in expected.items():
        listed = stack.kubectl("get", kind, "-l", f"kaito.sh/workspace={name}", "-o", "name").stdout.split()
        assert sorted(listed) == sorted(names), f"{kind} of {name}: {listed}"
