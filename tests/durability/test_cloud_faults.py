"""Workspaces provisioned while ARM misbehaves: 10 % of ARM requests answer 5xx, 429 bursts carry
Retry-After, connections drop (before the request takes effect and after), and one long-running
operation fails. Every workspace reaches Ready with one agent pool each; the test prints the attempts per
activity (from the workflow histories), the ARM requests and the wall time.

The family quota is raised through the emulator's settings API, so only faults stand in the way.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.durability.conftest import emulator, handle, one_of_each, pool_requests, reaches, temporal
from tests.e2e.conftest import Stack, example
from tests.waiting import wait_for
from workflows.workspace_contracts import Phase

pytestmark = pytest.mark.controlplane

ARM_OPS = ("agentPools.*", "operations.get", "operationResults.get")


def fault_plan(seed: int) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for op in ARM_OPS:
        rules += [
            {"match": op, "error_rate": 0.05, "error_status": 500},
            {"match": op, "error_rate": 0.05, "error_status": 503},  # with the first: ~10 % 5xx
            {"match": op, "drop_rate": 0.02},
        ]
    rules += [
        {"match": "agentPools.put", "drop_rate": 0.03, "drop_after": True},  # the PUT lands, the answer not
        {"match": "agentPools.put", "lro_fail_count": 1},  # one failed long-running operation
    ]
    return {"seed": seed, "rules": rules}


def burst(stack: Stack, op: str, count: int, retry_after: int) -> None:
    """The next `count` requests of `op` are throttled, each answered 429 with Retry-After."""
    emulator(
        stack, "POST", "/_emulator/faults", {"match": op, "throttle_count": count, "retry_after": retry_after}
    )


@pytest.fixture
def faulty_cloud(stack: Stack) -> Iterator[None]:
    settings = stack.azure("/_emulator/settings")
    stack.azure("/_emulator/settings", {"familyQuotas": {"StandardNVADSA10v5Family": 36 * 40}})
    emulator(stack, "PUT", "/_emulator/faults", fault_plan(seed=11))
    try:
        yield
    finally:
        emulator(stack, "DELETE", "/_emulator/faults")
        stack.azure("/_emulator/settings", {"familyQuotas": settings["familyQuotas"]})


async def attempts_per_activity(client: Client, names: list[str]) -> dict[str, Counter[int]]:
    """For each activity type, how many executions took 1, 2, … attempts (the last started attempt)."""
    out: dict[str, Counter[int]] = {}
    for name in names:
        history = await handle(client, name).fetch_history()
        scheduled: dict[int, str] = {}
        last: dict[int, int] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = event.activity_task_started_event_attributes
                last[started.scheduled_event_id] = started.attempt
        for event_id, activity in scheduled.items():
            out.setdefault(activity, Counter())[last.get(event_id, 0)] += 1
    return out


async def provision_under_faults(stack: Stack, count: int) -> None:
    names = [f"faulty-{i:02d}" for i in range(count)]
    first_seq = int(stack.azure("/_emulator/requests?op=none")["lastSeq"])
    began = time.monotonic()
    try:
        burst(stack, "agentPools.put", count=max(3, count // 2), retry_after=2)
        for name in names:
            stack.apply(example("workspace-phi-3-mini.yaml", name=name, namespace="default"))
        wait_for(
            lambda: all(pool_requests(stack, n, "put") for n in names[: max(1, count // 2)]),
            "half the pools to be asked for",
        )
        burst(stack, "operations.get", count=count, retry_after=1)  # a second burst, mid-run
        await asyncio.gather(*(reaches(stack, n, Phase.READY, timeout=600) for n in names))
        wall = time.monotonic() - began
        for name in names:
            one_of_each(stack, name)

        requests = stack.azure(f"/_emulator/requests?after={first_seq}")["requests"]
        arm = [r for r in requests if not r["op"].startswith(("token.", "openidConfiguration", "keys."))]
        injected = stack.azure("/_emulator/faults")["injected"]
        attempts = await attempts_per_activity(await temporal(stack), names)
        print(f"\n{count} workspaces Ready in {wall:.0f}s under faults; {len(arm)} ARM requests "
              f"({len(requests)} with Entra); injected {injected}")  # fmt: skip
        print(f"ARM answers: {dict(sorted(Counter(str(r['status']) for r in arm).items()))}")
        for activity, counts in sorted(attempts.items()):
            total = sum(n * k for n, k in counts.items())
            print(
                f"  {activity}: {sum(counts.values())} runs, {total} attempts {dict(sorted(counts.items()))}"
            )
        assert injected.get("error", 0) and injected.get("throttle", 0) and injected.get("drop", 0)
        assert injected.get("lro_fail") == 1
    finally:  # a failed check must not leave five pools holding the quota the next tests need
        for name in names:
            stack.kubectl("delete", "workspace", name, "--wait=false", "--ignore-not-found")
        wait_for(
            lambda: all(stack.workspace(n) is None for n in names),
            "the workspaces to be deleted",
            timeout=300,
        )


async def test_five_workspaces_ready_under_arm_faults(stack: Stack, faulty_cloud: None) -> None:
    await provision_under_faults(stack, 5)


@pytest.mark.long
async def test_twenty_workspaces_ready_under_arm_faults(stack: Stack, faulty_cloud: None) -> None:
    await provision_under_faults(stack, 20)
