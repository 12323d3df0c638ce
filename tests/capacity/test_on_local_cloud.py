"""GPU quota and pod health on the real local cloud.

Quota: workspaces beyond the quota wait in FIFO order instead of failing.

The emulator enforces the A10 family's vCPU quota; the worker reads it with `usage.list` before every
PUT. Workspaces applied at once beyond it enter WaitingForCapacity (no PUT, no polling), and each one
becomes Ready as an earlier one is deleted, in the order they joined the queue. A workspace deleted while
it waits leaves nothing. The long variant is the case the issue found: 30 workspaces, quota for 5.

Pod health: the kubelet of the local cloud is kwok, which starts pods and leaves them alone; a test makes
an inference pod crash-loop after an OOM kill by writing the pod status a kubelet would write, and the
Workspace says so within a reconcile interval, then recovers.
"""

import asyncio
import json
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from connections.temporal import TemporalSettings, connect
from tests.e2e.conftest import STEP_TIMEOUT, Stack, condition, example
from tests.e2e.test_seed_walkthrough import gone
from tests.waiting import wait_for
from workflows.naming import agent_pool_name
from workflows.workspace_contracts import STATUS_QUERY, WorkspaceStatus
from workflows.workspace_spec import workflow_id_for

pytestmark = pytest.mark.controlplane

FAMILY = "StandardNVADSA10v5Family"  # Standard_NV36ads_A10_v5: 36 vCPUs, phi-3-mini's size
CORES = 36


@pytest.fixture
def a10_quota(stack: Stack) -> Iterator[Callable[[int], None]]:
    """Set the A10 family's quota to so many phi-3-mini pools; restored after the test."""

    def set_quota(pools: int) -> None:
        stack.azure("/_emulator/settings", patch={"familyQuotas": {FAMILY: pools * CORES}})

    before = stack.azure("/_emulator/settings")["familyQuotas"][FAMILY]
    yield set_quota
    stack.azure("/_emulator/settings", patch={"familyQuotas": {FAMILY: before}})


def statuses(stack: Stack, names: list[str]) -> dict[str, dict[str, Any]]:
    """The workflows' status queries, as `kaitoctl workspace get -o json` shows them, in one connection
    ({} for one that is not running)."""

    async def ask() -> dict[str, dict[str, Any]]:
        client = await connect(TemporalSettings(address=stack.info.temporal))
        found: dict[str, dict[str, Any]] = {}
        for name in names:
            handle = client.get_workflow_handle(workflow_id_for("default", name))
            try:
                status = await handle.query(STATUS_QUERY, result_type=WorkspaceStatus)
            except (RPCError, WorkflowQueryFailedError):
                found[name] = {}
                continue
            found[name] = status.model_dump(mode="json")
        return found

    return asyncio.run(ask())


def status_of(stack: Stack, name: str) -> dict[str, Any]:
    return statuses(stack, [name])[name]


def puts_for(stack: Stack, name: str) -> int:
    pool = agent_pool_name("default", name)
    return sum(1 for r in stack.requests("agentPools.put") if r["path"].endswith(f"/agentPools/{pool}"))


def drain(stack: Stack, names: list[str], quota: int) -> dict[str, float]:
    """Apply all at once, then delete the Ready ones oldest first until every one has been Ready."""
    for name in names:
        stack.apply(example("workspace-phi-3-mini.yaml", name=name, namespace="default"))
    phases: dict[str, str] = {}

    def settled() -> bool:
        phases.update({n: str(s.get("phase")) for n, s in statuses(stack, names).items()})
        ready = [n for n in names if phases[n] == "Ready"]
        waiting = [n for n in names if phases[n] == "WaitingForCapacity"]
        return len(ready) == min(quota, len(names)) and len(ready) + len(waiting) == len(names)

    settle = max(STEP_TIMEOUT * 2, 15.0 * len(names))
    wait_for(settled, f"{quota} Ready and the rest waiting", timeout=settle, interval=2)
    assert not [n for n in names if phases[n] == "Failed"], phases
    waiting = [n for n in names if phases[n] == "WaitingForCapacity"]
    queued = statuses(stack, waiting)
    order = sorted(waiting, key=lambda n: str(queued[n]["capacity_queued_at"]))
    for name in waiting:
        assert puts_for(stack, name) == 0, f"{name}: no PUT while no quota is free"
        message = (condition(stack.workspace(name), "ResourceReady") or {}).get("message", "")
        for words in (FAMILY, "eastus", f"limit is {quota * CORES}", "needs 36 vCPUs", "place ", "Fix:"):
            assert words in message, (words, message)
    shown = json.loads(stack.kaitoctl("capacity", "-o", "json").stdout)
    a10 = next(f for f in shown if f["family"] == FAMILY)
    assert [q["workspace"] for q in a10["queue"]] == [f"default/{n}" for n in order], "kaitoctl capacity"
    assert a10["limit"] == quota * CORES and a10["usage"] == quota * CORES
    usages_before = len(stack.requests("usages.list"))
    pool_gets_before = len(stack.requests("agentPools.get"))
    served: dict[str, float] = {}
    started = time.monotonic()
    ready_now = [n for n in names if phases[n] == "Ready"]
    for name in ready_now:
        served[name] = 0.0
    queue = list(order)
    deleted: list[str] = []
    while queue:
        oldest = next(n for n in names if n in served and n not in deleted)
        stack.kubectl("delete", "workspace", oldest, "--wait=false")
        deleted.append(oldest)
        head = queue.pop(0)
        wait_for(
            lambda: status_of(stack, head).get("phase") == "Ready",  # noqa: B023 (used at once)
            f"{head} to be Ready after {oldest} was deleted", timeout=STEP_TIMEOUT * 2, interval=1,
        )  # fmt: skip
        served[head] = time.monotonic() - started
        behind = statuses(stack, queue)
        jumped = [n for n in queue if behind[n].get("phase") != "WaitingForCapacity"]
        assert not jumped, f"{jumped} jumped the queue"
    served["usages.list during the drain"] = len(stack.requests("usages.list")) - usages_before
    served["agentPools.get during the drain"] = len(stack.requests("agentPools.get")) - pool_gets_before
    for name in names:
        stack.kubectl("delete", "workspace", name, "--ignore-not-found", "--wait=false")
    wait_for(lambda: all(gone(stack, n) for n in names), "every workspace gone", timeout=STEP_TIMEOUT * 2)
    return served


def test_three_workspaces_with_quota_for_one_are_served_in_order(
    stack: Stack, a10_quota: Callable[[int], None]
) -> None:
    a10_quota(1)
    names = ["queue-a", "queue-b", "queue-c"]
    figures = drain(stack, names, quota=1)
    print(f"\nquota for 1, 3 workspaces: {figures}")


def test_delete_while_waiting_leaves_nothing(stack: Stack, a10_quota: Callable[[int], None]) -> None:
    a10_quota(0)
    stack.apply(example("workspace-phi-3-mini.yaml", name="never-served", namespace="default"))
    wait_for(
        lambda: status_of(stack, "never-served").get("phase") == "WaitingForCapacity",
        "never-served to wait for capacity", timeout=STEP_TIMEOUT,
    )  # fmt: skip
    stack.kubectl("delete", "workspace", "never-served", "--timeout=120s")
    wait_for(lambda: gone(stack, "never-served"), "never-served gone", timeout=STEP_TIMEOUT)
    assert puts_for(stack, "never-served") == 0, "no pool was ever asked for"
    described = stack.temporal(
        "workflow", "describe", "--workflow-id", "workspace/default/never-served", "-o", "json"
    )
    assert '"WORKFLOW_EXECUTION_STATUS_COMPLETED"' in described.stdout


@pytest.mark.long
def test_thirty_workspaces_with_quota_for_five_all_become_ready(
    stack: Stack, a10_quota: Callable[[int], None]
) -> None:
    a10_quota(5)
    names = [f"many-{i:02d}" for i in range(30)]
    wall = time.monotonic()
    figures = drain(stack, names, quota=5)
    print(f"\nquota for 5, 30 workspaces drained in {time.monotonic() - wall:.0f}s: {figures}")


def _pod_status(ready: bool) -> dict[str, Any]:
    """The status a kubelet writes for the model container: running and ready, or crash-looping after
    an OOM kill."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    state: dict[str, Any] = {"running": {"startedAt": now}}
    container: dict[str, Any] = {"name": "model", "image": "stand-in", "ready": ready, "restartCount": 3}
    if not ready:
        state = {
            "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
        }
        container["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    container["state"] = state
    flag = "True" if ready else "False"
    return {
        "status": {
            "conditions": [
                {"type": kind, "status": flag, "lastTransitionTime": now}
                for kind in ("ContainersReady", "Ready")
            ],
            "containerStatuses": [container],
        }
    }


def test_an_oom_killed_pod_after_ready_shows_and_recovers(stack: Stack) -> None:
    name = "oom-after-ready"
    stack.apply(example("workspace-phi-3-mini.yaml", name=name, namespace="default"))
    wait_for(lambda: status_of(stack, name).get("phase") == "Ready", f"{name} Ready", timeout=STEP_TIMEOUT)
    pods = stack.kubectl("get", "pods", "-l", f"kaito.sh/workspace={name}", "-o", "name").stdout.split()
    assert len(pods) == 1, pods
    pod = pods[0].removeprefix("pod/")
    containers = json.loads(stack.kubectl("get", "pod", pod, "-o", "json").stdout)["spec"]["containers"]

    def patch(ready: bool) -> None:
        body = _pod_status(ready)
        body["status"]["containerStatuses"][0]["name"] = containers[0]["name"]
        stack.kubectl("patch", "pod", pod, "--subresource=status", "--type=merge", "-p", json.dumps(body))

    def inference_ready() -> dict[str, Any]:
        return condition(stack.workspace(name), "InferenceReady") or {}

    started = time.monotonic()
    patch(ready=False)
    failing = wait_for(
        lambda: inference_ready() if inference_ready().get("status") == "False" else None,
        "InferenceReady False after the OOM kill", timeout=30, interval=0.5,
    )  # fmt: skip
    shown_after = time.monotonic() - started
    assert failing["reason"] == "OOMKilled" and "restarted 3 time(s)" in failing["message"]
    started = time.monotonic()
    patch(ready=True)
    wait_for(
        lambda: inference_ready().get("status") == "True", "InferenceReady True again",
        timeout=30, interval=0.5,
    )  # fmt: skip
    recovered_after = time.monotonic() - started
    print(f"\nOOM kill shown after {shown_after:.1f}s, recovery after {recovered_after:.1f}s")
    stack.kubectl("delete", "workspace", name, "--timeout=120s")
    wait_for(lambda: gone(stack, name), f"{name} gone", timeout=STEP_TIMEOUT)


def _post(stack: Stack, path: str, body: dict[str, Any]) -> Any:
    """POST to the emulator's control API (an eviction, a fault rule)."""
    context = ssl.create_default_context(cafile=stack.info.azure_ca)
    request = urllib.request.Request(
        f"{stack.info.azure}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"},
        method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return json.loads(response.read())


def _evict(stack: Stack, pool: str) -> None:
    """Azure takes a Spot pool's VMs back (the emulator's control API)."""
    assert _post(stack, "/_emulator/evict", {"pool": pool})["count"] == 0


def test_a_spot_eviction_is_recovered(stack: Stack) -> None:
    name = "spot-evicted"
    manifest = example("workspace-phi-3-mini.yaml", name=name, namespace="default")
    manifest["metadata"]["annotations"] = {"kaito.sh/spot": "true"}
    stack.apply(manifest)
    wait_for(lambda: status_of(stack, name).get("phase") == "Ready", f"{name} Ready", timeout=STEP_TIMEOUT)
    pool = agent_pool_name("default", name)
    spot_pool = next(p for p in stack.gpu_pools() if p["name"] == pool)
    assert spot_pool["node_count"] == 1
    started = time.monotonic()
    _evict(stack, pool)
    wait_for(
        lambda: status_of(stack, name).get("evictions") == 1, "the workflow to notice the eviction",
        timeout=STEP_TIMEOUT, interval=1,
    )  # fmt: skip
    recovered = wait_for(
        lambda: (s := status_of(stack, name)).get("phase") == "Ready" and s,
        f"{name} Ready again after the eviction", timeout=STEP_TIMEOUT * 2, interval=1,
    )  # fmt: skip
    print(f"\nspot eviction recovered in {time.monotonic() - started:.1f}s; status: spot={recovered['spot']}")
    assert recovered["spot"] and recovered["spot_gpu_hours"] > 0
    assert puts_for(stack, name) == 2, "created once, scaled back up once"
    stack.kubectl("delete", "workspace", name, "--timeout=120s")
    wait_for(lambda: gone(stack, name), f"{name} gone", timeout=STEP_TIMEOUT)


def test_falls_back_to_the_second_size_when_the_first_has_no_quota(
    stack: Stack, a10_quota: Callable[[int], None]
) -> None:
    a10_quota(0)
    name = "second-choice"
    fallback = "Standard_NC24ads_A100_v4"
    manifest = example("workspace-phi-3-mini.yaml", name=name, namespace="default")
    manifest["metadata"]["annotations"] = {"kaito.sh/fallback-instance-types": fallback}
    stack.apply(manifest)
    status = wait_for(
        lambda: (s := status_of(stack, name)).get("phase") == "Ready" and s, f"{name} Ready on {fallback}",
        timeout=STEP_TIMEOUT,
    )  # fmt: skip
    assert status["instance_type"] == fallback
    selected = condition(stack.workspace(name), "InstanceTypeSelected") or {}
    assert selected.get("reason") == "FallbackInstanceType" and "no quota free" in selected.get("message", "")
    pool = next(p for p in stack.gpu_pools() if p["name"] == agent_pool_name("default", name))
    assert pool["vm_size"] == fallback
    nodes = json.loads(stack.kubectl("get", "nodes", "-l", f"kaito.sh/workspace={name}", "-o", "json").stdout)
    assert {n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in nodes["items"]} == {fallback}
    stack.kubectl("delete", "workspace", name, "--timeout=120s")
    wait_for(lambda: gone(stack, name), f"{name} gone", timeout=STEP_TIMEOUT)


def test_allocation_failed_falls_back_to_the_next_size(stack: Stack) -> None:
    """The first size's create ends AllocationFailed (no VMs behind the quota): the Failed pool is
    deleted and the next size in the list is created."""
    name = "no-a10-vms"
    fallback = "Standard_NC24ads_A100_v4"
    _post(stack, "/_emulator/faults", {
        "match": "agentPools.put", "lro_fail_count": 1, "lro_fail_code": "AllocationFailed",
        "lro_fail_message": "Allocation failed. We do not have sufficient capacity for the requested VM size "
        "in this region.",
    })  # fmt: skip
    manifest = example("workspace-phi-3-mini.yaml", name=name, namespace="default")
    manifest["metadata"]["annotations"] = {"kaito.sh/fallback-instance-types": fallback}
    stack.apply(manifest)
    status = wait_for(
        lambda: (s := status_of(stack, name)).get("phase") == "Ready" and s, f"{name} Ready on {fallback}",
        timeout=STEP_TIMEOUT,
    )  # fmt: skip
    assert status["instance_type"] == fallback
    selected = condition(stack.workspace(name), "InstanceTypeSelected") or {}
    assert "Standard_NV36ads_A10_v5: AllocationFailed from ARM" in selected.get("message", ""), selected
    assert puts_for(stack, name) == 2, "the refused size once, the fallback once"
    stack.kubectl("delete", "workspace", name, "--timeout=120s")
    wait_for(lambda: gone(stack, name), f"{name} gone", timeout=STEP_TIMEOUT)
