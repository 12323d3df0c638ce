"""Benchmark: the scale-to-zero sweep over a fleet of Ready workspaces, ARM enforcing its rate limits.

    .venv/bin/python bench/sweep.py --count 500
    .venv/bin/python bench/sweep.py --count 100      # quicker

The real local cloud provisions `--count` workspaces (zero emulated boot time), then the emulator starts
enforcing ARM's per-principal token buckets (reads 250 + 25/s, writes 200 + 10/s, deletes 200 + 10/s; an
empty bucket answers 429 with Retry-After) and the buckets are left to fill. Two sweeps run (the
`ScaleToZeroSweep` workflow the schedule starts, on the worker's task queue):

1. a steady-state sweep: every counter is new, nothing is idle — the time per sweep and its ARM calls;
2. a sweep with every workspace idle (idle window 0 s, the first sweep's counters): it signals each to
   suspend, and each workspace scales its workload and pool to zero — the sweep's time, then the time
   until all are Suspended, the ARM calls by operation and how many ARM answered 429.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import count_in, until_count
from bench.localcloud_run import (
    arm_requests,
    create_workspace,
    emulator,
    last_arm_seq,
    local_cloud,
    raise_quotas,
)
from localcloud.stack import LocalCloud
from workflows.sweep_contracts import SWEEP_WORKFLOW, SweepInput, SweepResult, SweepState
from workflows.workspace_contracts import TASK_QUEUE, Phase

BUCKET_FILL_SECONDS = 25.0  # writes: 200 tokens at 10/s


async def sweep(cloud: LocalCloud, run: str, sweep_input: SweepInput) -> tuple[SweepResult, float]:
    assert cloud.client is not None
    began = time.monotonic()
    result: SweepResult = await cloud.client.execute_workflow(
        SWEEP_WORKFLOW, sweep_input, id=f"bench-sweep-{run}", task_queue=TASK_QUEUE, result_type=SweepResult,
        execution_timeout=timedelta(minutes=30),
    )  # fmt: skip
    return result, time.monotonic() - began


def arm_report(cloud: LocalCloud, seq: int) -> tuple[int, Counter[str], int]:
    requests = arm_requests(cloud, seq)
    ops = Counter(f"{r['method']} {r['op']}" for r in requests)
    return len(requests), ops, sum(1 for r in requests if r["status"] == 429)


async def main() -> None:
    parser = argparse.ArgumentParser(description="the scale-to-zero sweep over a fleet, ARM rate limits on")
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    async with local_cloud(boot_delay=0.0, operation_seconds=0.3) as (cloud, _audit):
        raise_quotas(cloud)
        gate = asyncio.Semaphore(8)

        async def create(name: str) -> None:
            async with gate:
                await asyncio.to_thread(create_workspace, cloud, name)

        began = time.monotonic()
        await asyncio.gather(*(create(f"sweep-{i}") for i in range(args.count)))
        await until_count(cloud, Phase.READY, args.count, timeout=120 + args.count * 3)
        print(f"{args.count} Ready in {time.monotonic() - began:.1f}s", flush=True)

        emulator(cloud, "/_emulator/settings", {"enforceRateLimits": True})
        await asyncio.sleep(BUCKET_FILL_SECONDS)  # let ARM's buckets refill after the provisioning

        seq = last_arm_seq(cloud)
        steady, steady_s = await sweep(cloud, "steady", SweepInput(idle_window=timedelta(hours=1)))
        steady_arm, steady_ops, steady_429 = arm_report(cloud, seq)

        seq = last_arm_seq(cloud)
        state = SweepState(counters=steady.state.counters)
        idle, idle_s = await sweep(cloud, "idle", SweepInput(idle_window=timedelta(0), previous=state))
        signalled = time.monotonic()
        await until_count(cloud, Phase.SUSPENDED, len(idle.suspended), timeout=300 + args.count * 3)
        suspended_s = time.monotonic() - signalled
        idle_arm, idle_ops, idle_429 = arm_report(cloud, seq)
        still_ready = await count_in(cloud, Phase.READY)

    print(f"\nscale-to-zero sweep over {args.count} Ready workspaces, ARM rate limits enforced:")
    checked, unreachable = len(steady.checked), len(steady.unreachable)
    print(f"  steady sweep (nothing idle): {steady_s:.1f}s, {checked} checked, {unreachable} unreachable")
    print(f"  steady sweep ARM requests {steady_arm} (429: {steady_429})")
    print(f"  idle sweep: {idle_s:.1f}s, {len(idle.suspended)} signalled to suspend")
    print(f"  then all {len(idle.suspended)} Suspended {suspended_s:.1f}s later ({still_ready} still Ready)")
    print(f"  ARM requests from the idle sweep to all Suspended: {idle_arm} (429: {idle_429})")
    for op, n in idle_ops.most_common():
        print(f"    {op:40s} {n}")
    if steady_ops:
        print(
            "  steady sweep ARM requests by operation: "
            + ", ".join(f"{k} {v}" for k, v in steady_ops.items())
        )


if __name__ == "__main__":
    asyncio.run(main())
