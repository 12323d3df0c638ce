"""Restarts lose nothing: a Workspace applied while the controllers are down is picked up when they
come back, and the workflow's reconcile finds the GPU nodes whose signals nobody sent."""

import os
import signal

import pytest

from localcloud.stack_file import StackInfo
from localcloud.supervision import hold, release
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
