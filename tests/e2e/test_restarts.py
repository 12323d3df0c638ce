"""Restarts lose nothing: a Workspace applied while the controllers are down is picked up when they
come back, and the workflow's reconcile finds the GPU nodes whose signals nobody sent; Temporal, the
emulator, the kube-apiserver and the controllers each killed mid-provisioning are restarted by the local
cloud's supervisor, and every workflow completes."""

import json
import os
import signal
import time
from functools import partial
from typing import Any

import pytest

from localcloud.stack_file import StackInfo
from localcloud.supervision import hold, release
from tests.durability.conftest import kill, pool_name, pool_requests, restarted
from tests.e2e.conftest import STEP_TIMEOUT, Stack, example
from tests.e2e.test_seed_walkthrough import gone, ready
from tests.waiting import wait_for

pytestmark = pytest.mark.controlplane


def controllers(stack: Stack) -> str | None:
    info = StackInfo.read(stack.state_dir)
    return info.components["controllers"].state if info else None


def test_workspace_applied_while_controllers_are_down_is_provisioned_when_they_return(stack: Stack) -> None:
    hold(stack.state_dir, "controllers")  # the supervisor keeps them down, as a Deployment at zero
    pid = StackInfo.read(stack.state_dir).components["controllers"].pid  # type: ignore[union-attr]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: controllers(stack) == "held", "the supervisor to hold the controllers down")
    stack.apply(example("workspace-phi-3-mini.yaml", name="while-down", namespace="default"))
    listed = stack.temporal("workflow", "list", "--query", 'WorkflowId="workspace/default/while-down"').stdout
    assert "while-down" not in listed, "nobody is watching the Workspace yet"

    release(stack.state_dir, "controllers")  # the supervisor starts them again
    wait_for(
        lambda: ready(stack, "while-down"), "while-down to be Ready after the restart", timeout=180,
        explain=lambda: stack.explain("while-down"),
    )  # fmt: skip
    stack.kubectl("delete", "workspace", "while-down", "--timeout=120s")
    wait_for(lambda: gone(stack, "while-down"), "everything of while-down to be gone", timeout=STEP_TIMEOUT)


def puts_after(stack: Stack, name: str, seq: int) -> list[dict[str, Any]]:
    return [r for r in pool_requests(stack, name, "put") if r["seq"] > seq]


def created_pools(stack: Stack, name: str) -> int:
    return len([r for r in pool_requests(stack, name, "put") if r["status"] == 201])


def nodes_ready(stack: Stack, name: str) -> bool:
    """The GPU node of workspace `name` is registered and Ready (whoever noticed it)."""
    shown = stack.kubectl(
        "get", "nodes", "-l", f"kubernetes.azure.com/agentpool={pool_name(name)}", "-o", "json"
    )
    nodes = json.loads(shown.stdout)["items"]
    return bool(nodes) and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
        for n in nodes
    )


def test_every_component_restarted_in_turn_mid_provisioning(stack: Stack) -> None:
    """Temporal (on its database file), the emulator (on its state file), the kube-apiserver (on its etcd)
    and the controllers (down while the GPU nodes become Ready, so their signals are never sent) are each
    SIGKILLed while two workspaces provision; the supervisor restarts each, and both become Ready with
    one agent pool created each."""
    names = ["restart-a", "restart-b"]
    before = stack.azure("/_emulator/settings")["durations"]
    stack.azure("/_emulator/settings", {"durations": {"pool_create": 15.0}})
    seq = int(stack.azure("/_emulator/requests?op=none")["lastSeq"])
    try:
        for name in names:
            stack.apply(example("workspace-phi-3-mini.yaml", name=name, namespace="default"))
        for name in names:
            wait_for(partial(puts_after, stack, name, seq), f"{name}'s agent-pool PUT")
        restarts: dict[str, float] = {}
        created = dict.fromkeys(names, 0)  # agent pools created (PUT answered 201), over emulator runs
        for component in ("temporal", "azure", "kube-apiserver"):
            if component == "azure":  # its request log lives in memory: count what it saw so far
                created = {name: created_pools(stack, name) for name in names}
            killed, at = kill(stack, component)
            restarted(stack, component, killed)
            restarts[component] = time.time() - at
    finally:
        stack.azure("/_emulator/settings", {"durations": before})

    hold(stack.state_dir, "controllers")
    killed, _ = kill(stack, "controllers")
    for name in names:
        wait_for(partial(nodes_ready, stack, name), f"{name}'s GPU node Ready", timeout=STEP_TIMEOUT)
    for name in names:
        assert stack.phase(name) == "WaitingForNodes", "nobody signalled the workflow"
    release(stack.state_dir, "controllers")
    restarted(stack, "controllers", killed)

    for name in names:
        wait_for(
            partial(ready, stack, name), f"{name} to be Ready", timeout=STEP_TIMEOUT,
            explain=partial(stack.explain, name),
        )  # fmt: skip
        total = created[name] + created_pools(stack, name)
        assert total == 1, f"{name}'s pool created {total} times"
    print("\nback after SIGKILL: " + ", ".join(f"{c} {s:.1f}s" for c, s in restarts.items()))
    for name in names:
        stack.kubectl("delete", "workspace", name, "--timeout=120s")
    for name in names:
        wait_for(partial(gone, stack, name), f"everything of {name} to be gone", timeout=STEP_TIMEOUT)
