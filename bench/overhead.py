"""Benchmark: our overhead in one provisioning, with zero emulated cloud time, through the real local cloud.

    .venv/bin/python bench/overhead.py --runs 50

The emulator's operations take 0 s and the GPU-node bridge boots nodes at once, so what is left is ours
(workflow, activities, controllers, the Temporal dev server, the apiserver). Workspaces are provisioned one
after the other; for each, from the three logs a provisioning leaves:

- Workspace created (audit: the create) -> agent-pool PUT received (emulator request log);
- nodes ready (audit: kwok's first node status write) -> workload applied (audit: the StatefulSet write);
- pods ready (the stand-in manager's readiness mark) -> Ready (the workflow's Ready phase);
- end to end, created -> Ready (emulated time is zero, so nothing is subtracted);
- the health check's attempts (from the history): 1 each, or the first try failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.api.enums.v1 import EventType

from bench.localcloud_run import (
    arm_requests,
    audit_events,
    audit_matches,
    create_workspace,
    last_arm_seq,
    local_cloud,
    raise_quotas,
    rss_tree_mb,
    stamp,
    summary,
)
from localcloud.stack import LocalCloud
from workflows.workspace_contracts import STATUS_QUERY, ActivityName, Phase, WorkspaceStatus
from workflows.workspace_spec import workflow_id_for

STEP_TIMEOUT = 120.0


async def status(cloud: LocalCloud, name: str) -> WorkspaceStatus | None:
    assert cloud.client is not None
    try:
        handle = cloud.client.get_workflow_handle(workflow_id_for("default", name))
        shown: WorkspaceStatus = await handle.query(STATUS_QUERY, result_type=WorkspaceStatus)
        return shown
    except Exception:  # not started yet
        return None


async def until_ready(cloud: LocalCloud, name: str) -> WorkspaceStatus:
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        shown = await status(cloud, name)
        if shown and shown.phase == Phase.READY:
            return shown
        if shown and shown.phase == Phase.FAILED:
            raise RuntimeError(f"{name} failed: {shown.message}")
        await asyncio.sleep(0.05)  # a benchmark's poll of the query, not a test's synchronisation
    raise TimeoutError(f"{name} not Ready after {STEP_TIMEOUT}s")


async def history(cloud: LocalCloud, name: str) -> list[Any]:
    assert cloud.client is not None
    fetched = await cloud.client.get_workflow_handle(workflow_id_for("default", name)).fetch_history()
    return list(fetched.events)


def health_attempts(events: list[Any]) -> int:
    scheduled = {
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == ActivityName.CHECK_HEALTH
    }
    return max(
        (
            e.activity_task_started_event_attributes.attempt
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
        ),
        default=0,
    )


async def one(cloud: LocalCloud, audit: Path, offset: int, name: str) -> tuple[dict[str, float], int]:
    seq = last_arm_seq(cloud)
    create_workspace(cloud, name)
    shown = await until_ready(cloud, name)
    events, offset = audit_events(audit, offset)
    created = stamp(audit_matches(events, resource="workspaces", verbs=("create",), name_prefix=name)[0][
        "requestReceivedTimestamp"])  # fmt: skip
    pool = shown.agent_pool or ""
    put = next(
        r for r in arm_requests(cloud, seq) if r["method"] == "PUT" and f"/agentPools/{pool}" in r["path"]
    )
    writes = ("create", "patch", "update")
    node_writes = audit_matches(
        events, resource="nodes", verbs=writes, name_prefix=f"aks-{pool}-", subresource="status"
    )
    node_ready = min(stamp(e["stageTimestamp"]) for e in node_writes)
    sts_writes = audit_matches(events, resource="statefulsets", verbs=writes, name_prefix=name)
    applied = min(stamp(e["stageTimestamp"]) for e in sts_writes)
    assert cloud.standins is not None
    pod_ready = cloud.standins.running[f"default/{name}-0"].ready_at or float("nan")
    ready = shown.timings[Phase.READY.value].started.timestamp()
    hist = await history(cloud, name)
    figures = {
        "created -> pool PUT": put["at"] - created,
        "nodes ready -> applied": applied - node_ready,
        "pods ready -> Ready": ready - pod_ready,
        "end to end": ready - created,
        "history events": float(len(hist)),
        "health attempts": float(health_attempts(hist)),
    }
    return figures, offset


async def main() -> None:
    parser = argparse.ArgumentParser(description="our overhead per provisioning, zero emulated time")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2, help="provisionings left out of the figures")
    args = parser.parse_args()
    began = time.monotonic()
    async with local_cloud(boot_delay=0.0, operation_seconds=0.0) as (cloud, audit):
        print(f"local cloud up in {time.monotonic() - began:.1f}s; state in {cloud.state_dir}", flush=True)
        raise_quotas(cloud)
        offset = 0
        rows: list[dict[str, float]] = []
        for i in range(args.warmup + args.runs):
            figures, offset = await one(cloud, audit, offset, f"ov-{i}")
            if i >= args.warmup:
                rows.append(figures)
            print(f"ov-{i}: " + "  ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
        rss, count = rss_tree_mb(__import__("os").getpid())
        print(f"\n{args.runs} provisionings, one after the other (after {args.warmup} warm-up):")
        for key in rows[0]:
            values = [r[key] for r in rows]
            unit = "" if key in ("history events", "health attempts") else "s"
            print(f"  {key:24s} {summary(values, unit)}")
        print(
            f"  health checks that needed a retry: {sum(r['health attempts'] > 1 for r in rows)}/{len(rows)}"
        )
        print(
            f"  local cloud RSS with {len(rows) + args.warmup} Ready workspaces: "
            f"{rss:.0f} MB in {count} processes"
        )


if __name__ == "__main__":
    asyncio.run(main())
