"""Wake from zero on the local cloud, through the apiserver's service proxy: a suspended workspace's
Service routes to the wake gateway; one request wakes it and gets the model's answer; 50 concurrent ones
make one resume; a failed resume answers 503 naming the cause and leaves no GPU up; a caller that does not
wait gets 503 with Retry-After; a delete while requests are held answers them 503 and leaves nothing.

One local cloud for the module (tests.e2e.conftest's `stack`); each test has a workspace of its own."""

import json
import ssl
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from tests.e2e.conftest import STEP_TIMEOUT, Stack
from tests.e2e.test_scale_to_zero import apply_phi, pool, state
from tests.e2e.test_seed_walkthrough import gone, ready
from tests.waiting import wait_for
from tests.wake.gateway_calls import Caller, Reply
from workflows.workspace_contracts import ANNOTATION_ROUTED_TO, WAKE_GATEWAY_MANAGED_BY

pytestmark = pytest.mark.controlplane
HOLD = {"X-Kaito-Wake-Timeout": "180"}


@pytest.fixture(scope="module")
def caller(stack: Stack) -> Caller:
    return Caller(stack.info.kubeconfig)


def faults(stack: Stack, method: str, body: dict[str, Any] | None = None) -> None:
    """Change the emulator's fault plan (POST appends rules, DELETE clears it)."""
    context = ssl.create_default_context(cafile=stack.info.azure_ca)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{stack.info.azure}/_emulator/faults", data, {"Content-Type": "application/json"}, method=method
    )
    with urllib.request.urlopen(request, context=context, timeout=30):
        pass


def get_json(stack: Stack, *args: str) -> Any:
    return json.loads(stack.kubectl("get", *args, "-o", "json").stdout)


def suspended(stack: Stack, name: str) -> None:
    """`name` Ready, then suspended by hand, its Service routed to the gateway."""
    apply_phi(stack, name)
    wait_for(
        partial(ready, stack, name), f"{name} to be Ready", timeout=180, explain=lambda: stack.explain(name)
    )
    stack.kaitoctl("workspace", "suspend", name)
    wait_for(lambda: state(stack, name) == "Suspended", f"{name} to be suspended", timeout=STEP_TIMEOUT)


def routed_to_gateway(stack: Stack, name: str) -> list[str]:
    """The addresses of our EndpointSlice of `name`'s Service (asserting the rest of the routing)."""
    service = get_json(stack, "service", name)
    assert "selector" not in service["spec"], "while suspended the Service selects no pod"
    assert service["metadata"]["annotations"][ANNOTATION_ROUTED_TO] == "kaito-wake-gateway"
    slices = get_json(stack, "endpointslices", "-l", f"kubernetes.io/service-name={name}")["items"]
    ours = [s for s in slices if s["metadata"]["labels"].get("endpointslice.kubernetes.io/managed-by")
            == WAKE_GATEWAY_MANAGED_BY]  # fmt: skip
    assert len(ours) == 1, slices
    return [a for e in ours[0]["endpoints"] for a in e["addresses"]]


def gateway_pod_ips(stack: Stack) -> list[str]:
    pods = get_json(stack, "pods", "-n", "kaito-system", "-l", "app.kubernetes.io/name=kaito-wake-gateway")
    return sorted(p["status"]["podIP"] for p in pods["items"])


def routed_to_model(stack: Stack, name: str) -> bool:
    service = get_json(stack, "service", name)
    slices = get_json(stack, "endpointslices", "-l", f"kubernetes.io/service-name={name}")["items"]
    return service["spec"].get("selector") == {"kaito.sh/workspace": name} and not any(
        s["metadata"]["labels"].get("endpointslice.kubernetes.io/managed-by") == WAKE_GATEWAY_MANAGED_BY
        for s in slices
    )


def answered_by_the_model(reply: Reply, name: str) -> bool:
    if reply.status != 200:
        return False
    content = reply.json()["choices"][0]["message"]["content"]
    return f"pod default/{name}-0" in content


def pool_puts(stack: Stack) -> int:
    return len(stack.requests("agentPools.put"))


def test_one_request_wakes_a_suspended_workspace_and_the_model_answers(stack: Stack, caller: Caller) -> None:
    suspended(stack, "wake-one")
    assert routed_to_gateway(stack, "wake-one") == gateway_pod_ips(stack)
    direct = caller.chat("wake-one", via_gateway=False)
    assert direct.status == 503 and "no endpoints available" in direct.text, (
        "the apiserver's proxy does not follow endpoints into another namespace"
    )
    assert pool(stack, "wake-one")["count"] == 0  # type: ignore[index]

    reply = caller.chat("wake-one", headers=HOLD)
    assert answered_by_the_model(reply, "wake-one"), reply.text
    assert pool(stack, "wake-one")["count"] == 1, "the answer came after the pool came back"  # type: ignore[index]
    assert state(stack, "wake-one") == "Ready"
    assert routed_to_model(stack, "wake-one"), "Ready: the Service routes to the model again"
    assert answered_by_the_model(caller.chat("wake-one", via_gateway=False), "wake-one")

    stack.kubectl("delete", "workspace", "wake-one", "--timeout=120s")
    wait_for(partial(gone, stack, "wake-one"), "wake-one to be gone", timeout=STEP_TIMEOUT)


def test_fifty_concurrent_requests_make_one_resume_and_fifty_answers(stack: Stack, caller: Caller) -> None:
    suspended(stack, "wake-many")
    puts, updates = pool_puts(stack), caller.gateway_stats()["wake_updates"]
    with ThreadPoolExecutor(max_workers=50) as threads:
        replies = list(threads.map(lambda _: caller.chat("wake-many", headers=HOLD), range(50)))
    assert [r.status for r in replies] == [200] * 50, [r.text for r in replies if r.status != 200][:3]
    assert all(answered_by_the_model(r, "wake-many") for r in replies)
    assert pool_puts(stack) - puts == 1, "one scale-up of the pool: one resume"
    assert caller.gateway_stats()["wake_updates"] - updates == 1, "the gateway sent one wake update"

    stack.kubectl("delete", "workspace", "wake-many", "--timeout=120s")
    wait_for(partial(gone, stack, "wake-many"), "wake-many to be gone", timeout=STEP_TIMEOUT)


def test_a_resume_that_fails_answers_503_naming_the_cause_and_no_gpu_stays_up(
    stack: Stack, caller: Caller
) -> None:
    suspended(stack, "wake-refused")
    refusal = {
        "match": "agentPools.put",
        "error_count": 1,
        "error_status": 403,
        "error_code": "AuthorizationFailed",
    }
    faults(stack, "POST", {"rules": [refusal]})
    try:
        with ThreadPoolExecutor(max_workers=5) as threads:
            replies = list(threads.map(lambda _: caller.chat("wake-refused", headers=HOLD), range(5)))
    finally:
        faults(stack, "DELETE")
    assert [r.status for r in replies] == [503] * 5, [r.text for r in replies]
    for reply in replies:
        error = reply.json()["error"]
        assert "resume failed" in error["message"] and "AuthorizationFailed" in error["message"], error
        assert error["phase"] == "Suspended" and reply.headers.get("Retry-After")
    assert state(stack, "wake-refused") == "Suspended"
    assert pool(stack, "wake-refused")["count"] == 0, "no GPU left running"  # type: ignore[index]
    nodes = stack.kubectl("get", "nodes", "-l", "accelerator=nvidia", "-o", "name").stdout
    assert not nodes.strip(), nodes
    assert routed_to_gateway(stack, "wake-refused") == gateway_pod_ips(stack), "still the gateway's"

    stack.kubectl("delete", "workspace", "wake-refused", "--timeout=120s")
    wait_for(partial(gone, stack, "wake-refused"), "wake-refused to be gone", timeout=STEP_TIMEOUT)


def test_a_caller_that_does_not_wait_gets_503_with_retry_after(stack: Stack, caller: Caller) -> None:
    suspended(stack, "wake-later")
    reply = caller.chat("wake-later", headers={"X-Kaito-Wake": "no-wait"})
    assert reply.status == 503 and reply.seconds < 10, reply.text
    assert int(reply.headers["Retry-After"]) >= 1
    error = reply.json()["error"]
    assert error["type"] == "workspace_not_ready" and error["eta_seconds"] is not None, error
    # It woke meanwhile: the caller's retry is answered by the model.
    wait_for(lambda: state(stack, "wake-later") == "Ready", "wake-later to wake", timeout=STEP_TIMEOUT)
    assert answered_by_the_model(caller.chat("wake-later", headers={"X-Kaito-Wake": "no-wait"}), "wake-later")
    bad = caller.chat("wake-later", headers={"X-Kaito-Wake-Timeout": "soon"})
    assert bad.status == 400 and "X-Kaito-Wake-Timeout" in bad.json()["error"]["message"]

    stack.kubectl("delete", "workspace", "wake-later", "--timeout=120s")
    wait_for(partial(gone, stack, "wake-later"), "wake-later to be gone", timeout=STEP_TIMEOUT)


def test_delete_while_requests_are_held_answers_them_503_and_leaves_nothing(
    stack: Stack, caller: Caller
) -> None:
    suspended(stack, "wake-doomed")
    before = stack.azure("/_emulator/settings")["durations"]
    stack.azure(
        "/_emulator/settings", patch={"durations": {"pool_update": 30, "pool_scale": 30, "pool_create": 30}}
    )
    try:
        replies: list[Reply] = []
        threads = [
            threading.Thread(target=lambda: replies.append(caller.chat("wake-doomed", headers=HOLD)))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        wait_for(
            lambda: stack.phase("wake-doomed") in ("CreatingNodePool", "WaitingForNodes"),
            "the wake to be scaling the pool up", timeout=STEP_TIMEOUT,
        )  # fmt: skip
        stack.kubectl("delete", "workspace", "wake-doomed", "--wait=false")
        for thread in threads:
            thread.join(timeout=STEP_TIMEOUT)
    finally:
        stack.azure("/_emulator/settings", patch={"durations": before})
    assert [r.status for r in replies] == [503] * 3, [r.text for r in replies]
    assert all("deleted" in r.json()["error"]["message"] for r in replies), replies[0].text
    wait_for(partial(gone, stack, "wake-doomed"), "wake-doomed to be gone", timeout=STEP_TIMEOUT)
    left = stack.kubectl("get", "endpoints,endpointslices", "-o", "name").stdout
    assert "wake-doomed" not in left, left


def test_routed_endpoints_follow_the_gateway_pods_that_run(stack: Stack, caller: Caller) -> None:
    """A gateway pod replaced since the suspend (here: our slice and Endpoints made to list an address no
    gateway pod has) is corrected by the gateway's own refresh, and the request still wakes the workspace."""
    suspended(stack, "wake-moved")
    current = gateway_pod_ips(stack)
    stale = {"endpoints": [{"addresses": ["10.244.99.99"], "conditions": {"ready": True}}]}
    stack.kubectl(
        "patch", "endpointslice", "wake-moved-wake-gateway", "--type=merge", "-p", json.dumps(stale)
    )
    stale_endpoints = {
        "subsets": [{"addresses": [{"ip": "10.244.99.99"}], "ports": [{"name": "http", "port": 8080}]}]
    }
    stack.kubectl("patch", "endpoints", "wake-moved", "--type=merge", "-p", json.dumps(stale_endpoints))
    assert routed_to_gateway(stack, "wake-moved") == ["10.244.99.99"]
    wait_for(
        lambda: routed_to_gateway(stack, "wake-moved") == current,
        "the gateway to route the Service to its running pods again", timeout=60,
    )  # fmt: skip
    endpoints = get_json(stack, "endpoints", "wake-moved")
    assert [a["ip"] for s in endpoints["subsets"] for a in s["addresses"]] == current
    assert answered_by_the_model(caller.chat("wake-moved", headers=HOLD), "wake-moved")

    stack.kubectl("delete", "workspace", "wake-moved", "--timeout=120s")
    wait_for(partial(gone, stack, "wake-moved"), "wake-moved to be gone", timeout=STEP_TIMEOUT)
