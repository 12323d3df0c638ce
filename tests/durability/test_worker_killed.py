"""A provisioning worker SIGKILLed in any phase loses nothing: the supervisor starts a new one, Temporal
retries the attempt that died (within its heartbeat or start-to-close timeout, about 30 s), and the
workflow completes with exactly one agent pool created and one workload.

Each phase is made long enough to hit, by waiting on conditions: the emulator's LROs last seconds (its
settings API), the GPU nodes boot in `BOOT_DELAY`, and the worker's Kubernetes requests of the workload
apply and of the health check are held in the apiserver (`held_requests`) until the worker is dead.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowUpdateStage

from localcloud.inference_standin import HOLD_SIGNAL, RELEASE_SIGNAL
from localcloud.processes import log_tail, stop_process
from localcloud.supervision import hold, release
from tests.conftest import ROOT
from tests.durability.conftest import (
    component,
    handle,
    info,
    kill,
    one_of_each,
    pool_requests,
    reaches,
    restarted,
    status,
    temporal,
)
from tests.durability.held_requests import held, in_queue
from tests.e2e.conftest import Stack, example
from tests.waiting import wait_for, wait_for_async
from workflows.workspace_contracts import Phase, SignalName, SuspendRequest, UpdateName, WorkspaceStatus

pytestmark = pytest.mark.controlplane

LRO_SECONDS = 12.0  # an agent-pool create or scale: long enough to kill the worker while it waits


@pytest.fixture(autouse=True)
def long_operations(stack: Stack) -> Iterator[None]:
    before = stack.azure("/_emulator/settings")["durations"]
    stack.azure("/_emulator/settings", {"durations": {"pool_create": LRO_SECONDS, "pool_scale": LRO_SECONDS}})
    yield
    stack.azure("/_emulator/settings", {"durations": before})


@dataclass
class Kill:
    phase: str
    at: float  # epoch seconds
    first_retry_after: float | None = None  # seconds from the kill to the dead attempt's retry


def kill_worker(stack: Stack, phase: str) -> Kill:
    before, at = kill(stack, "worker")
    restarted(stack, "worker", before)
    return Kill(phase, at)


def last_seq(stack: Stack) -> int:
    return int(stack.azure("/_emulator/requests?op=none")["lastSeq"])


def pool_put_after(stack: Stack, name: str, seq: int, status_code: int) -> dict[str, Any] | None:
    """The first agent-pool PUT of `name` after request number `seq` that ARM answered `status_code`."""
    return next(
        (r for r in pool_requests(stack, name, "put") if r["seq"] > seq and r["status"] == status_code), None
    )


def retry_delay(stack: Stack, name: str, killed: Kill) -> float | None:
    """Seconds from the kill to the next attempt's first read of the pool (the retried attempt)."""
    reads = [r["at"] for r in pool_requests(stack, name, "get") if r["at"] > killed.at]
    return min(reads) - killed.at if reads else None


def standin_host(stack: Stack) -> int | None:
    """The stand-in host (a child of the local cloud serving the inference pods), once it handles the
    hold signal: this test's workspace is the only one running, so its pod is served there."""
    children = [
        int(pid) for task in Path(f"/proc/{stack.info.pid}/task").iterdir()
        for pid in (task / "children").read_text().split()
    ]  # fmt: skip
    for pid in children:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if b"--host-pods" in argv and caught & (1 << (HOLD_SIGNAL - 1)):
            return pid
    return None


async def in_flight(client: Client, name: str, activity: str) -> bool:
    """The workflow has attempt(s) of `activity` started by a worker and not yet finished."""
    described = await handle(client, name).describe()
    pending = described.raw_description.pending_activities
    return any(a.activity_type.name == activity and a.state == 2 for a in pending)  # 2: STARTED


async def provision_killing_the_worker_in_each_phase(stack: Stack, name: str, phases: set[str]) -> list[Kill]:
    """Provision `name` (then suspend and resume it), SIGKILLing the worker in each of `phases`."""
    kills: list[Kill] = []
    seq = last_seq(stack)
    stack.apply(example("workspace-phi-3-mini.yaml", name=name, namespace="default"))

    if "agent-pool PUT" in phases:
        wait_for(lambda: pool_put_after(stack, name, seq, 201), "the agent-pool PUT to be answered")
        kills.append(kill_worker(stack, "agent-pool PUT"))
        kills[-1].first_retry_after = wait_for(
            lambda: retry_delay(stack, name, kills[-1]), "the dead attempt to be retried", timeout=90
        )
    if "GPU wait" in phases:
        await reaches(stack, name, Phase.WAITING_FOR_NODES)
        kills.append(kill_worker(stack, "GPU wait"))
    if "workload apply" in phases:
        with held(stack, "kaito-held-apply", "apps", "statefulsets", ["patch"]):
            wait_for(
                lambda: in_queue(stack, "kaito-held-apply"), "the StatefulSet apply to wait", timeout=120
            )
            kills.append(kill_worker(stack, "workload apply"))
    client = await temporal(stack)
    if "health check" in phases:
        # The apiserver does not queue proxy requests (they are long-running), so the model server
        # itself holds its answers: the health check's chat completion through the Service waits.
        standin = wait_for(lambda: standin_host(stack), "the stand-in host of the inference pod", timeout=120)
        os.kill(standin, HOLD_SIGNAL)
        try:
            await wait_for_async(
                lambda: in_flight(client, name, "check_inference_health"), "the health check to run",
                timeout=120,
            )  # fmt: skip
            kills.append(kill_worker(stack, "health check"))
        finally:
            os.kill(standin, RELEASE_SIGNAL)
    await reaches(stack, name, Phase.READY)
    one_of_each(stack, name)

    if "suspend" in phases:
        seq = last_seq(stack)
        await handle(client, name).signal(SignalName.SUSPEND, SuspendRequest(reason="durability test"))
        wait_for(lambda: pool_put_after(stack, name, seq, 200), "the scale-to-zero PUT to be answered")
        kills.append(kill_worker(stack, "suspend"))
        await reaches(stack, name, Phase.SUSPENDED)
    if "resume" in phases:
        if (await status(client, name)).phase != Phase.SUSPENDED:
            await handle(client, name).signal(SignalName.SUSPEND, SuspendRequest(reason="durability test"))
            await reaches(stack, name, Phase.SUSPENDED)
        seq = last_seq(stack)
        update = await handle(client, name).start_update(
            UpdateName.RESUME, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=WorkspaceStatus
        )
        wait_for(lambda: pool_put_after(stack, name, seq, 200), "the scale-up PUT to be answered")
        kills.append(kill_worker(stack, "resume"))
        resumed = await (await temporal(stack)).get_workflow_handle(update.workflow_id).get_update_handle(
            update.id, result_type=WorkspaceStatus
        ).result()  # fmt: skip
        assert resumed.phase == Phase.READY, resumed.message
    one_of_each(stack, name)
    return kills


def report(name: str, kills: list[Kill], began: float) -> None:
    print(f"\n{name}: Ready after {len(kills)} worker kills in {time.monotonic() - began:.0f}s")
    for k in kills:
        retried = (
            f"; attempt retried {k.first_retry_after:.1f}s after the kill" if k.first_retry_after else ""
        )
        print(f"  killed during {k.phase}{retried}")


async def test_worker_killed_during_the_pool_put_and_the_gpu_wait(stack: Stack) -> None:
    """The default run's share: the two phases that cost least to wait out (the long variant kills the
    worker in all six)."""
    began = time.monotonic()
    kills = await provision_killing_the_worker_in_each_phase(
        stack, "killed-twice", {"agent-pool PUT", "GPU wait"}
    )
    report("killed-twice", kills, began)
    assert [k.phase for k in kills] == ["agent-pool PUT", "GPU wait"]
    put = kills[0]
    assert put.first_retry_after is not None and put.first_retry_after < 45, (
        "the dead PUT attempt is retried within its heartbeat timeout (20 s) and the backoff, not minutes"
    )


@pytest.mark.long
async def test_worker_killed_in_every_phase(stack: Stack) -> None:
    began = time.monotonic()
    phases = {"agent-pool PUT", "GPU wait", "workload apply", "health check", "suspend", "resume"}
    kills = await provision_killing_the_worker_in_each_phase(stack, "killed-always", phases)
    report("killed-always", kills, began)
    assert len(kills) == 6


def _worker_env(stack: Stack) -> dict[str, str]:
    """The supervised worker's environment, read from /proc: a second replica of the same Deployment."""
    pid = component(stack, "worker").pid
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


async def test_two_workers_one_killed_the_other_finishes_without_a_restart(
    stack: Stack, tmp_path: Path
) -> None:
    name = "two-workers"
    log_path = tmp_path / "second-worker.log"
    with log_path.open("wb") as log:
        second = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=_worker_env(stack), cwd=str(ROOT),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    hold(stack.state_dir, "worker")  # a killed supervised worker stays dead: only the other may finish
    supervised = component(stack, "worker")
    try:
        client = await temporal(stack)
        seq = last_seq(stack)
        stack.apply(example("workspace-phi-3-mini.yaml", name=name, namespace="default"))
        wait_for(lambda: pool_put_after(stack, name, seq, 201), "the agent-pool PUT to be answered")
        await wait_for_async(
            lambda: in_flight(client, name, "ensure_agent_pool"), "the PUT attempt to be started"
        )
        described = await handle(client, name).describe()
        runner = next(a for a in described.raw_description.pending_activities).last_worker_identity
        victim = supervised.pid if runner.startswith(f"{supervised.pid}@") else second.pid
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        print(f"\nkilled worker {runner} during the agent-pool PUT")
        # The attempt that died finishes on the other worker: the workflow waits for the GPU nodes.
        await reaches(stack, name, Phase.WAITING_FOR_NODES)
        created = [r for r in pool_requests(stack, name, "put") if r["status"] == 201]
        assert len(created) == 1, created
        retried = retry_delay(stack, name, Kill("agent-pool PUT", killed_at))
        print(f"the other worker retried the attempt {retried:.1f}s after the kill")
        survivor: Callable[[], bool] = (
            (lambda: second.poll() is None) if victim == supervised.pid
            else (lambda: component(stack, "worker").pid == supervised.pid)
        )  # fmt: skip
        assert survivor(), "the other worker finished the work, and nothing was restarted"
        assert component(stack, "worker").restarts == supervised.restarts
    finally:
        stack.kubectl("delete", "workspace", name, "--ignore-not-found", "--wait=false")
        release(stack.state_dir, "worker")
        stop_process(second, grace=20)
        if component(stack, "worker").state != "running":
            restarted(stack, "worker", supervised)
        assert info(stack).components["worker"].state == "running", log_tail(log_path)
