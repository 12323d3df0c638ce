"""Benchmark: a fleet of workspaces parked in the GPU wait on one worker, then released, on the local cloud.

    .venv/bin/python bench/fleet.py --count 100
    .venv/bin/python bench/fleet.py --count 1000      # heavy: ~10 min and several GB on 2 cores

The real local cloud (control plane with kwok, Azure emulator with every family's quota raised through its
settings API, GPU-node bridge, stand-ins, the worker and controllers, the Temporal dev server). The bridge's
boot delay is an hour, so every workspace parks in WaitingForNodes; then the benchmark ends the delay for
all at once (`GpuNodeBridge.release`) and the controllers signal nodes-ready to each workflow.

Reported: the time to start them all (created until all WaitingForNodes); the worker's RSS, CPU and activity
slots in use while parked (the SDK's `temporal_worker_task_slots_used`); after the release, signal ->
workload-apply activity start (from each history: the last nodes-ready signal before the apply starts),
the time until all are Ready, and the RSS of the whole local cloud at that point.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.api.enums.v1 import EventType

from bench.localcloud_run import (
    cpu_seconds,
    create_workspace,
    local_cloud,
    raise_quotas,
    rss_mb,
    rss_tree_mb,
    summary,
)
from localcloud.ports import free_port
from localcloud.stack import LocalCloud
from localcloud.temporal_server import SQLITE_PRAGMAS, TemporalDevServer
from workflows.workspace_contracts import WORKSPACE_WORKFLOW, ActivityName, Phase, SignalName
from workflows.workspace_spec import workflow_id_for

PARKED_SAMPLE_SECONDS = 20.0


async def count_in(cloud: LocalCloud, phase: Phase) -> int:
    assert cloud.client is not None
    query = (
        f'WorkflowType = "{WORKSPACE_WORKFLOW}" AND ExecutionStatus = "Running" AND KaitoPhase = "{phase}"'
    )
    return (await cloud.client.count_workflows(query)).count


async def until_count(cloud: LocalCloud, phase: Phase, count: int, timeout: float) -> float:
    """Seconds until `count` workflows are in `phase` (a benchmark's poll of visibility, every 0.5 s)."""
    began = time.monotonic()
    last = -1
    while time.monotonic() - began < timeout:
        now = await count_in(cloud, phase)
        if now != last:
            print(f"  {time.monotonic() - began:6.1f}s  {now}/{count} {phase}", flush=True)
            last = now
        if now >= count:
            return time.monotonic() - began
        await asyncio.sleep(0.5)
    raise TimeoutError(f"only {last}/{count} in {phase} after {timeout}s")


def slots_used(metrics_url: str) -> dict[str, float]:
    """The SDK's slot gauge per worker type, from the worker's Prometheus endpoint."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    used: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("temporal_worker_task_slots_used{"):
            labels, value = line.rsplit(" ", 1)
            kind = labels.split('worker_type="', 1)[1].split('"', 1)[0]
            used[kind] = used.get(kind, 0.0) + float(value)
    return used


def seconds(event: Any) -> float:
    return float(event.event_time.seconds) + float(event.event_time.nanos) / 1e9


async def signal_to_apply(cloud: LocalCloud, name: str) -> dict[str, float] | None:
    """From the last nodes-ready signal before the workload apply to that activity's start, and its hops:
    the signal to the first workflow task that sees it, that task to the apply being scheduled (with any
    activity the workflow awaits in between), and scheduled to started (the activity queue)."""
    assert cloud.client is not None
    fetched = await cloud.client.get_workflow_handle(workflow_id_for("default", name)).fetch_history()
    signal_at = task_at = None
    scheduled: dict[int, float] = {}
    for e in fetched.events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            if (
                e.workflow_execution_signaled_event_attributes.signal_name == SignalName.NODES_READY
                and not scheduled
            ):
                signal_at, task_at = seconds(e), None
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            if signal_at is not None and task_at is None:
                task_at = seconds(e)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if e.activity_task_scheduled_event_attributes.activity_type.name == ActivityName.ENSURE_INFERENCE:
                scheduled[e.event_id] = seconds(e)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            at = scheduled.get(e.activity_task_started_event_attributes.scheduled_event_id)
            if at is not None and signal_at is not None and task_at is not None:
                started = seconds(e)
                return {
                    "signal -> apply started": started - signal_at,
                    "  signal -> its workflow task": task_at - signal_at,
                    "  that task -> apply scheduled": at - task_at,
                    "  apply scheduled -> started": started - at,
                }
    return None


def profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the worker (collapsed stacks, idle frames left out) until SIGINT."""
    spy = Path(sys.executable).parent / "py-spy"
    argv = [str(spy), "record", "-p", str(pid), "-f", "raw", "-o", str(out), "-r", "50", "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def history_breakdown(cloud: LocalCloud, name: str) -> None:
    """What one workspace's history holds up to Ready: events by type, activities by name, signals."""
    assert cloud.client is not None
    fetched = await cloud.client.get_workflow_handle(workflow_id_for("default", name)).fetch_history()
    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in fetched.events)
    activities = Counter(
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in fetched.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )
    signals = Counter(
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in fetched.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )
    print(f"\nhistory of {name}: {len(fetched.events)} events")
    print("  by type:    " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print("  activities: " + ", ".join(f"{k} {v}" for k, v in activities.most_common()))
    print("  signals:    " + ", ".join(f"{k} {v}" for k, v in signals.most_common()))


async def main() -> None:
    parser = argparse.ArgumentParser(description="a fleet parked in the GPU wait, then released")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--create-concurrency", type=int, default=8)
    parser.add_argument("--profile", type=Path, help="py-spy the worker from the release until all Ready")
    parser.add_argument(
        "--sqlite-rollback", action="store_true",
        help="the dev server's SQLite without WAL (its journal as before the local cloud turned WAL on)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.sqlite_rollback:
        plain = TemporalDevServer.argv
        TemporalDevServer.argv = lambda self: [  # type: ignore[method-assign]
            arg for arg in plain(self) if arg not in SQLITE_PRAGMAS
        ]
    metrics = f"127.0.0.1:{free_port()}"
    os.environ["KAITO_METRICS_ADDRESS"] = metrics  # the worker serves the SDK's metrics there
    began = time.monotonic()
    async with local_cloud(boot_delay=3600.0, operation_seconds=0.3) as (cloud, _audit):
        print(f"local cloud up in {time.monotonic() - began:.1f}s; state in {cloud.state_dir}", flush=True)
        raise_quotas(cloud)
        worker = cloud.processes["worker"].pid
        print(f"worker pid {worker}: {rss_mb(worker):.0f} MB before the fleet", flush=True)

        names = [f"fleet-{i}" for i in range(args.count)]
        gate = asyncio.Semaphore(args.create_concurrency)

        async def create(name: str) -> None:
            async with gate:
                await asyncio.to_thread(create_workspace, cloud, name)

        started = time.monotonic()
        await asyncio.gather(*(create(n) for n in names))
        created = time.monotonic() - started
        print(f"{args.count} Workspaces created in {created:.1f}s", flush=True)
        parked = await until_count(cloud, Phase.WAITING_FOR_NODES, args.count, timeout=60 + args.count * 2)
        parked_total = time.monotonic() - started

        cpu0, t0 = cpu_seconds(worker), time.monotonic()
        samples = []
        while time.monotonic() - t0 < PARKED_SAMPLE_SECONDS:
            samples.append(slots_used(f"http://{metrics}/metrics"))
            await asyncio.sleep(2)
        parked_cpu = (cpu_seconds(worker) - cpu0) / (time.monotonic() - t0)
        parked_rss = rss_mb(worker)
        activity_slots = max(s.get("ActivityWorker", 0.0) for s in samples)
        workflow_slots = max(s.get("WorkflowWorker", 0.0) for s in samples)
        cloud_parked, procs_parked = rss_tree_mb(os.getpid())

        assert cloud.bridge is not None
        released = time.monotonic()
        spy = profile(worker, args.profile) if args.profile else None
        cloud.bridge.release()
        all_ready = await until_count(cloud, Phase.READY, args.count, timeout=120 + args.count * 3)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        cloud_ready, procs_ready = rss_tree_mb(os.getpid())
        assert cloud.standins is not None
        hosts = len(cloud.standins.host_pids)

        gate = asyncio.Semaphore(16)

        async def latency(name: str) -> dict[str, float] | None:
            async with gate:
                return await signal_to_apply(cloud, name)

        hops = [v for v in await asyncio.gather(*(latency(n) for n in names)) if v is not None]
        await history_breakdown(cloud, names[0])
        print(f"\nfleet of {args.count} on one worker + the dev server, through the local cloud:")
        print(f"  created (kubectl-equivalent creates)      {created:.1f}s")
        print(f"  all parked in WaitingForNodes              {parked_total:.1f}s after the first create")
        print(f"  worker RSS while parked                    {parked_rss:.0f} MB")
        print(f"  worker CPU while parked                    {parked_cpu * 100:.1f}% of a core")
        print(f"  activity slots in use while parked (max)   {activity_slots:.0f}")
        print(f"  workflow slots in use while parked (max)   {workflow_slots:.0f}")
        print(
            f"  local cloud RSS while parked               {cloud_parked:.0f} MB in {procs_parked} processes"
        )
        for hop in hops[0] if hops else {}:
            print(f"  {hop:42s} {summary([h[hop] for h in hops])}")
        print(f"  release -> all {args.count} Ready{'':14s}{all_ready:.1f}s")
        print(f"  local cloud RSS with {args.count} Ready{'':10s}{cloud_ready:.0f} MB in {procs_ready} procs")
        print(f"  stand-in host processes                    {hosts} for {len(cloud.standins.running)} pods")
        print(f"  (parked by {parked:.1f}s of polling; release at +{released - started:.1f}s)")


if __name__ == "__main__":
    asyncio.run(main())
