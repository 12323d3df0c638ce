"""Scale to zero on the local cloud: a real Temporal Schedule runs the sweep against real request
counters; the idle workspace's pool goes to 0 and its nodes and pods go, the opted-out one stays; the
chat command says how to resume; a resume annotation brings it back; delete while suspended leaves
nothing."""

import json
from functools import partial
from typing import Any

import pytest

from tests.e2e.conftest import STEP_TIMEOUT, Stack, condition, example
from tests.e2e.test_seed_walkthrough import gone, ready
from tests.waiting import wait_for
from workflows.naming import agent_pool_name

pytestmark = pytest.mark.controlplane


def apply_phi(stack: Stack, name: str, annotations: dict[str, str] | None = None) -> None:
    stack.apply(
        example("workspace-phi-3-mini.yaml", name=name, namespace="default", annotations=annotations or {})
    )


def state(stack: Stack, name: str) -> str | None:
    workspace = stack.workspace(name)
    return ((workspace or {}).get("status") or {}).get("state")


def pool(stack: Stack, name: str) -> dict[str, Any] | None:
    return next((p for p in stack.gpu_pools() if p["name"] == agent_pool_name("default", name)), None)


def test_idle_workspace_is_suspended_by_the_schedule_and_resumed_by_annotation(stack: Stack) -> None:
    apply_phi(stack, "sleepy")
    apply_phi(stack, "awake", {"kaito.sh/scale-to-zero": "false"})
    for name in ("sleepy", "awake"):
        wait_for(partial(ready, stack, name), f"{name} to be Ready", timeout=180)

    created = stack.kaitoctl("schedule", "scale-to-zero", "--every", "2s", "--idle", "6s").stdout
    assert "schedule scale-to-zero created" in created
    try:
        wait_for(
            lambda: state(stack, "sleepy") == "Suspended", "sleepy to be suspended", timeout=STEP_TIMEOUT
        )
        sleepy = stack.workspace("sleepy")
        suspended = condition(sleepy, "Suspended")
        assert suspended and suspended["status"] == "True" and "no inference requests" in suspended["message"]
        scaled = pool(stack, "sleepy")
        assert scaled and scaled["count"] == 0 and scaled["node_count"] == 0, "the pool stays, at zero"
        wait_for(
            lambda: (
                not stack.kubectl("get", "pods,nodes", "-l", "kaito.sh/workspace=sleepy", "-o", "name").stdout
            ),
            "sleepy's pods and nodes to go",
            timeout=STEP_TIMEOUT,
        )
        assert stack.kubectl("get", "service", "sleepy", "-o", "name").stdout.strip() == "service/sleepy"
        sts = json.loads(stack.kubectl("get", "statefulset", "sleepy", "-o", "json").stdout)
        assert sts["spec"]["replicas"] == 0

        refused = stack.kaitoctl("workspace", "chat", "sleepy", "hello?", check=False)
        assert refused.returncode == 1
        assert "is suspended" in refused.stderr and "kaitoctl workspace resume sleepy" in refused.stderr

        listed = stack.kaitoctl("workspace", "list", "-o", "json").stdout
        rows = {row["name"]: row for row in json.loads(listed)}
        assert rows["sleepy"]["state"] == "Suspended" and rows["sleepy"]["suspended_since"]
        assert rows["awake"]["state"] == "Ready", "the opted-out workspace is never suspended"

        stack.temporal("schedule", "toggle", "--schedule-id", "scale-to-zero", "--pause", "--reason", "test")
        stack.kubectl("annotate", "workspace", "sleepy", "kaito.sh/resume=now")
        wait_for(
            lambda: state(stack, "sleepy") == "Ready", "sleepy to be Ready again", timeout=STEP_TIMEOUT,
            explain=lambda: stack.explain("sleepy"),
        )  # fmt: skip
        assert pool(stack, "sleepy")["count"] == 1  # type: ignore[index]
        assert "stand-in" in stack.kaitoctl("workspace", "chat", "sleepy", "back?").stdout
        annotations = (stack.workspace("sleepy") or {})["metadata"].get("annotations", {})
        assert "kaito.sh/resume" not in annotations, "the controller clears the request"
        saved = {
            row["name"]: row for row in json.loads(stack.kaitoctl("workspace", "list", "-o", "json").stdout)
        }
        assert saved["sleepy"]["gpu_hours_saved"] > 0
        assert state(stack, "awake") == "Ready"
    finally:
        stack.temporal("schedule", "delete", "--schedule-id", "scale-to-zero", check=False)

    stack.kaitoctl("workspace", "suspend", "sleepy")
    wait_for(
        lambda: state(stack, "sleepy") == "Suspended",
        "sleepy to be suspended on request",
        timeout=STEP_TIMEOUT,
    )
    for name in ("sleepy", "awake"):
        stack.kubectl("delete", "workspace", name, "--timeout=120s")
        wait_for(partial(gone, stack, name), f"everything of {name} to be gone", timeout=STEP_TIMEOUT)
