"""Benchmark: what one provisioning costs in calls, ours beside a polling baseline, in the same run.

    .venv/bin/python bench/calls.py                 # a 10-minute GPU wait on a 60x scaled clock (10 s)
    .venv/bin/python bench/calls.py --scale 20      # the same wait at 30 s

On the real local cloud with a scaled clock: the GPU-node bridge boots nodes after 600/scale seconds and
the emulator's operations take 240/scale (what a GPU pool create takes on AKS). First a Workspace is
provisioned by our workflow (signals while the nodes boot); then the baseline (bench/polling_baseline.py)
creates a pool the same way and waits in an activity polling the pool (ARM) and its nodes (apiserver)
every 5/scale seconds, as gpu-provisioner and the older KAITO controllers do.

Counted per provisioning, each from its own window of the logs: ARM requests (the emulator's request
log), Kubernetes API requests by our components (the apiserver's audit log, by user), workflow history
events, and the activity slots in use during the wait (the worker's `temporal_worker_task_slots_used`).
The baseline stops when its nodes are Ready; everything our flow does after that (workload, health
check, status writes) is in our counts and not in the baseline's, so the comparison favours the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.worker import Worker

from bench.fleet import slots_used
from bench.localcloud_run import (
    arm_requests,
    audit_events,
    create_workspace,
    last_arm_seq,
    local_cloud,
    raise_quotas,
)
from bench.overhead import history, status, until_ready
from bench.polling_baseline import TASK_QUEUE, PollingActivities, PollingProvisioning, PollingRequest
from localcloud.ports import free_port
from localcloud.stack import LocalCloud
from workflows.workspace_contracts import Phase

GPU_WAIT_SECONDS = 600.0
POLL_SECONDS = 5.0
POOL_CREATE_SECONDS = 240.0
VM_SIZE = "Standard_NV36ads_A10_v5"
OURS = ("kaito-worker", "kaito-controller")  # service-account names contain these


def kube_requests(events: list[dict[str, Any]], since: float, until: float) -> Counter[str]:
    """Audit events in [since, until] by the user that made them (system components left out)."""
    from bench.localcloud_run import stamp

    counts: Counter[str] = Counter()
    for e in events:
        at = stamp(e["requestReceivedTimestamp"])
        if since <= at <= until:
            counts[str((e.get("user") or {}).get("username", "?"))] += 1
    return counts


async def sample_slots(cloud: LocalCloud, url: str, stop: asyncio.Event, out: list[dict[str, float]]) -> None:
    """The worker's slots in use, sampled while the workspace is in the GPU wait."""
    while not stop.is_set():
        shown = await status(cloud, "calls-ours")
        if shown is not None and shown.phase == Phase.WAITING_FOR_NODES:
            out.append(slots_used(url))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def ours(cloud: LocalCloud, metrics: str) -> tuple[float, float, int, int, float]:
    seq, began = last_arm_seq(cloud), time.time()
    stop, slots = asyncio.Event(), list[dict[str, float]]()
    sampler = asyncio.create_task(sample_slots(cloud, f"http://{metrics}/metrics", stop, slots))
    create_workspace(cloud, "calls-ours")
    await until_ready(cloud, "calls-ours")
    stop.set()
    await sampler
    arm = len(arm_requests(cloud, seq))
    events = len(await history(cloud, "calls-ours"))
    wait_slots = max((s.get("ActivityWorker", 0.0) for s in slots), default=float("nan"))
    print(f"  (ours: {len(slots)} slot samples in the GPU wait)")
    return began, time.time(), arm, events, wait_slots


async def baseline(cloud: LocalCloud, period: float) -> tuple[float, float, int, int, int]:
    assert cloud.client is not None and cloud.azure is not None and cloud.kube is not None
    acts = PollingActivities(cloud.azure, cloud.kube, cloud.azure.config.subscription_id)
    seq, began = last_arm_seq(cloud), time.time()
    async with Worker(
        cloud.client, task_queue=TASK_QUEUE, workflows=[PollingProvisioning],
        activities=[acts.create_pool, acts.poll_until_ready],
    ):  # fmt: skip
        handle = await cloud.client.start_workflow(
            PollingProvisioning.run, PollingRequest("baseline", VM_SIZE, period),
            id=f"bench-polling-{os.getpid()}", task_queue=TASK_QUEUE,
        )  # fmt: skip
        await handle.result()
        fetched = await handle.fetch_history()
    return began, time.time(), len(arm_requests(cloud, seq)), len(fetched.events), acts.polls


async def main() -> None:
    parser = argparse.ArgumentParser(description="calls per provisioning, ours beside a polling baseline")
    parser.add_argument("--scale", type=float, default=60.0, help="how many times faster than real time")
    args = parser.parse_args()
    metrics = f"127.0.0.1:{free_port()}"
    os.environ["KAITO_METRICS_ADDRESS"] = metrics
    wait, period = GPU_WAIT_SECONDS / args.scale, POLL_SECONDS / args.scale
    async with local_cloud(boot_delay=wait, operation_seconds=POOL_CREATE_SECONDS / args.scale) as (
        cloud,
        audit,
    ):
        raise_quotas(cloud)
        o_begin, o_end, o_arm, o_events, o_slots = await ours(cloud, metrics)
        b_begin, b_end, b_arm, b_events, polls = await baseline(cloud, period)
        events, _ = audit_events(audit)
        o_kube, b_kube = kube_requests(events, o_begin, o_end), kube_requests(events, b_begin, b_end)

    def mine(counts: Counter[str], who: tuple[str, ...]) -> int:
        return sum(v for k, v in counts.items() if any(w in k for w in who))

    admin = ("admin",)  # the baseline runs with the local cloud's admin kubeconfig
    print(f"\none provisioning, a {GPU_WAIT_SECONDS / 60:.0f}-minute GPU wait on a {args.scale:.0f}x clock "
          f"({wait:.1f} s; baseline polls every {period:.3f} s = {POLL_SECONDS:.0f} s real):")  # fmt: skip
    print(f"  {'':34s}{'ours (signals)':>18s}{'polling baseline':>20s}")
    print(f"  {'ARM requests':34s}{o_arm:>18d}{b_arm:>20d}   ours/baseline {o_arm / max(b_arm, 1):.2f}")
    print(f"  {'Kubernetes API requests (ours)':34s}{mine(o_kube, OURS):>18d}{mine(b_kube, admin):>20d}")
    print(f"  {'history events':34s}{o_events:>18d}{b_events:>20d}")
    print(f"  {'activity slots held in the wait':34s}{o_slots:>18.0f}{1:>20d}   (the poller)")
    print(f"  {'baseline polls (ARM GET + node list)':34s}{'':>18s}{polls:>20d}")
    print(f"  {'wall time':34s}{o_end - o_begin:>17.1f}s{b_end - b_begin:>19.1f}s")
    print("  Kubernetes requests by user, ours: " + ", ".join(f"{k} {v}" for k, v in o_kube.most_common(6)))


if __name__ == "__main__":
    asyncio.run(main())
