"""WaitingForCapacity on the time-skipping server: no PUT without quota, the cost of waiting, fallbacks.

The region is the fake's (quota per family, the cores each pool holds, the queue); the workflow, the
plans, the conditions and the queue arithmetic (`CapacityReport.fits`, `CapacityActivities.ahead_of`)
are the real ones.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.conftest import load_example
from tests.waiting import wait_for_async
from tests.workflow.conftest import (
    query_status,
    running_worker,
    wait_for_phase,
    wait_for_status,
    workflow_failure,
)
from tests.workflow.fakes import FakeCloud
from tests.workflow.test_workspace_workflow import start
from workflows import conditions as cond
from workflows.workspace_capacity import CAPACITY_TIMEOUT, NEWEST_NOTICE_WINS, RECHECK_EVERY
from workflows.workspace_contracts import ActivityName, CapacityNotice, Phase, SignalName, WorkspaceStatus
from workflows.workspace_spec import Workspace
from workflows.workspace_validation import parse_workspace

FAMILY = "standardNCSv3Family"  # Standard_NC12s_v3: 12 vCPUs, the falcon-7b example's size


def falcon(name: str, **annotations: str) -> Workspace:
    data: dict[str, Any] = load_example("workspace-falcon-7b.yaml")
    data["metadata"] = {"name": name, "annotations": annotations}
    return parse_workspace(data)


def condition(status: WorkspaceStatus, type_: str) -> tuple[str, str, str]:
    found = next(c for c in status.conditions if c.type == type_)
    return found.status, found.reason, found.message


def waiting(status: WorkspaceStatus) -> bool:
    return status.phase == Phase.WAITING_FOR_CAPACITY


async def ready(handle: WorkflowHandle[Any, Any]) -> WorkspaceStatus:
    return await wait_for_phase(handle, Phase.READY)


def auto_cloud(quota: int) -> FakeCloud:
    return FakeCloud(auto=True, quotas={FAMILY: quota})


async def test_no_quota_means_no_put_and_a_condition_with_every_number(env: WorkflowEnvironment) -> None:
    cloud = auto_cloud(quota=6)  # half a Standard_NC12s_v3
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq, falcon("short"))
        status = await wait_for_status(handle, waiting, "WaitingForCapacity")
        assert ActivityName.ENSURE_AGENT_POOL not in cloud.calls, "no PUT while the quota is short"
        state, reason, message = condition(status, cond.RESOURCE_READY)
        assert (state, reason) == (cond.FALSE, cond.REASON_WAITING_FOR_CAPACITY)
        for words in (FAMILY, "eastus", "limit is 6", "0 are in use", "needs 12 vCPUs", "place 1", "Fix:"):
            assert words in message, (words, message)
        assert "quota of at least 12 vCPUs" in message
        assert "cheapest other size that fits falcon-7b" in message, "names a size with quota free"
        assert message.count("QuotaExceeded") == 0 and len(message) > 256, "never cut, code never repeated"
        assert status.capacity is not None and status.capacity.needed == 12
        await handle.signal(SignalName.DELETE)
        await handle.result()
    assert ActivityName.DELETE_AGENT_POOL not in cloud.calls, "nothing was created, nothing to delete"


async def test_a_long_wait_costs_only_the_fallback_timer(env: WorkflowEnvironment) -> None:
    """An hour in the queue: no activity runs while nothing changes, only the recheck timer's reads.

    (The hand-off between waiters, with its signals between workflows, is tested on the real dev server
    in tests/devserver/test_capacity_queue.py: the time-skipping server now and then wedges a workflow
    task when a signal arrives while the task is in flight.)"""
    cloud = auto_cloud(quota=12)  # room for one pool
    async with running_worker(env.client, cloud) as tq:
        first = await start(env, tq, falcon("first"))
        await ready(first)
        second = await start(env, tq, falcon("second"))
        status = await wait_for_status(second, waiting, "second waits")
        assert "place 1" in status.message, status.message
        checks_while_waiting = cloud.calls[ActivityName.CHECK_CAPACITY]

        await env.sleep(timedelta(hours=1))
        rechecks = cloud.calls[ActivityName.CHECK_CAPACITY] - checks_while_waiting
        assert 1 <= rechecks <= 2 * (timedelta(hours=1) // RECHECK_EVERY), "only the fallback timer rechecks"
        assert (await query_status(second)).phase == Phase.WAITING_FOR_CAPACITY

        with env.auto_time_skipping_disabled():  # the deletes need no timer; skipping would age `first`
            for handle in (second, first):
                await handle.signal(SignalName.DELETE)
                assert (await handle.result()).phase == Phase.DELETED
    assert [name for name, count in cloud.pool_counts if count > 0] == ["first"]


async def test_delete_while_waiting_leaves_nothing(env: WorkflowEnvironment) -> None:
    cloud = auto_cloud(quota=0)
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq, falcon("never"))
        await wait_for_status(handle, waiting, "WaitingForCapacity")
        await handle.signal(SignalName.DELETE)
        result = await handle.result()
    assert result.phase == Phase.DELETED
    assert ActivityName.ENSURE_AGENT_POOL not in cloud.calls and not cloud.held


async def test_the_wait_gives_up_after_24_hours_by_default(env: WorkflowEnvironment) -> None:
    cloud = auto_cloud(quota=0)
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq, falcon("patient"))
        await wait_for_status(handle, waiting, "WaitingForCapacity")
        await env.sleep(timedelta(hours=23))
        assert (await query_status(handle)).phase == Phase.WAITING_FOR_CAPACITY, "still waiting at 23 h"
        await env.sleep(timedelta(hours=2))
        failure = await workflow_failure(handle)
    assert failure.type == CAPACITY_TIMEOUT and "after 24h" in str(failure) and FAMILY in str(failure)
    assert cloud.written(cond.WORKSPACE_SUCCEEDED) == (cond.FALSE, CAPACITY_TIMEOUT)


async def test_the_deadline_is_settable_by_annotation(env: WorkflowEnvironment) -> None:
    cloud = auto_cloud(quota=0)
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq, falcon("hurried", **{"kaito.sh/capacity-wait-timeout": "2h"}))
        await wait_for_status(handle, waiting, "WaitingForCapacity")
        await env.sleep(timedelta(hours=3))
        failure = await workflow_failure(handle)
    assert failure.type == CAPACITY_TIMEOUT and "after 2h" in str(failure)


async def test_arm_refusing_the_put_sends_it_to_the_queue_and_the_timer_retries(
    env: WorkflowEnvironment,
) -> None:
    cloud = FakeCloud(auto=True, refuse_sizes={"Standard_NC12s_v3": "AllocationFailed"})
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq, falcon("unlucky"))
        status = await wait_for_status(handle, waiting, "WaitingForCapacity after AllocationFailed")
        assert cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 1
        await env.sleep(RECHECK_EVERY + timedelta(minutes=1))
        status = await ready(handle)
    assert status.instance_type == "Standard_NC12s_v3" and cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 2


async def test_falls_back_to_the_next_size_when_the_first_is_refused(env: WorkflowEnvironment) -> None:
    fallback = "Standard_NC24ads_A100_v4"
    cloud = FakeCloud(auto=True, refuse_sizes={"Standard_NC12s_v3": "SkuNotAvailable"})
    ws = falcon("flexible", **{"kaito.sh/fallback-instance-types": f"{fallback}"})
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq, ws)
        status = await ready(handle)
        await handle.signal(SignalName.DELETE)
        await handle.result()
    assert status.instance_type == fallback
    state, reason, message = condition(status, cond.SKU_SELECTED)
    assert (state, reason) == (cond.TRUE, cond.REASON_FALLBACK_SKU)
    assert message.startswith(fallback) and "Standard_NC12s_v3: SkuNotAvailable from ARM" in message
    assert cloud.pool_counts[-1] == ("flexible", 0)


async def test_falls_back_before_the_put_when_the_first_family_has_no_quota(env: WorkflowEnvironment) -> None:
    fallback = "Standard_NC24ads_A100_v4"
    cloud = auto_cloud(quota=0)
    ws = falcon("elsewhere", **{"kaito.sh/fallback-instance-types": fallback})
    async with running_worker(env.client, cloud) as tq:
        handle = await start(env, tq, ws)
        status = await ready(handle)
    assert status.instance_type == fallback and cloud.calls[ActivityName.ENSURE_AGENT_POOL] == 1
    assert "Standard_NC12s_v3: no quota free" in condition(status, cond.SKU_SELECTED)[2]


async def test_a_notice_older_than_the_one_taken_is_dropped(env: WorkflowEnvironment) -> None:
    """Two wakers' notices arriving out of order: the stale one must not send the waiter back a place."""
    cloud = auto_cloud(quota=12)
    async with running_worker(env.client, cloud) as tq:
        first = await start(env, tq, falcon("first"))
        await ready(first)
        second = await start(env, tq, falcon("second"))
        await wait_for_status(second, waiting, "second waits")
        now = datetime.now(UTC)
        newer = CapacityNotice(family=FAMILY, free=0, place=1, at=now)
        older = CapacityNotice(family=FAMILY, free=12, place=3, ahead_cores=24, at=now - timedelta(seconds=1))

        await second.signal(SignalName.CAPACITY_CHANGED, newer)
        await wait_for_status(second, lambda s: "0 are free; place 1" in s.message, "the newer notice shown")
        await second.signal(SignalName.CAPACITY_CHANGED, older)

        async def dropped() -> bool:
            """The drop is marked in the history by its patch (`NEWEST_NOTICE_WINS`)."""
            for event in (await second.fetch_history()).events:
                marker = event.marker_recorded_event_attributes
                patch = marker.details["patch-data"].payloads if marker.marker_name == "core_patch" else []
                if any(json.loads(p.data).get("id") == NEWEST_NOTICE_WINS for p in patch):
                    return True
            return False

        await wait_for_async(dropped, "the stale notice dropped")
        status = await query_status(second)
        assert "0 are free; place 1" in status.message, status.message
        with env.auto_time_skipping_disabled():
            for handle in (second, first):
                await handle.signal(SignalName.DELETE)
                await handle.result()
