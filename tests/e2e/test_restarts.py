"""Restarts lose nothing: a Workspace applied while the controllers are down is picked up when they
come back, and the workflow's reconcile finds the GPU nodes whose signals nobody sent."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.processes import stop_process
from tests.conftest import ROOT
from tests.e2e.conftest import STEP_TIMEOUT, Stack, example
from tests.e2e.test_seed_walkthrough import gone, ready
from tests.waiting import wait_for

pytestmark = pytest.mark.controlplane


def test_workspace_applied_while_controllers_are_down_is_provisioned_when_they_return(
    stack: Stack, tmp_path: Path
) -> None:
    os.kill(stack.info.pids["controllers"], signal.SIGKILL)
    stack.apply(example("workspace-phi-3-mini.yaml", name="while-down", namespace="default"))
    listed = stack.temporal("workflow", "list", "--query", 'WorkflowId="workspace/default/while-down"').stdout
    assert "while-down" not in listed, "nobody is watching the Workspace yet"

    log = (tmp_path / "controllers.log").open("wb")
    controllers = subprocess.Popen(
        [sys.executable, "-m", "controllers"],
        cwd=str(ROOT),
        env=stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: ready(stack, "while-down"), "while-down to be Ready after the restart", timeout=180,
            explain=lambda: stack.explain("while-down"),
        )  # fmt: skip
        stack.kubectl("delete", "workspace", "while-down", "--timeout=120s")
        wait_for(
            lambda: gone(stack, "while-down"), "everything of while-down to be gone", timeout=STEP_TIMEOUT
        )
    finally:
        stop_process(controllers, grace=30)
        log.close()
