"""The local cloud supervises its processes as a kubelet does: a killed one is reported and restarted with
a doubling backoff, `kaitoctl dev status` tells the truth, and a second `kaitoctl dev up` repairs a stack
that has a component down."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.processes import pid_alive
from localcloud.stack_file import StackInfo
from localcloud.supervision import hold
from tests.conftest import ROOT
from tests.durability.conftest import component, kill, restarted
from tests.e2e.conftest import Stack
from tests.waiting import wait_for

pytestmark = pytest.mark.controlplane


def dev(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "kaitoctl", "dev", *args, "--state-dir", str(stack.state_dir)],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def row(table: str, name: str) -> str:
    """The table row of process `name` (rich draws the cells between "│")."""
    cells = ([c.strip() for c in line.split("│") if c.strip()] for line in table.splitlines())
    return " ".join(next(c for c in cells if c and c[0] == name))


def test_a_killed_worker_is_restarted_with_a_doubling_backoff(stack: Stack) -> None:
    before, killed_at = kill(stack, "worker")
    first = restarted(stack, "worker", before)
    assert first.restarts == before.restarts + 1
    assert first.last_exit == -signal.SIGKILL, "the exit is recorded: killed by SIGKILL"
    assert first.backoff_seconds == 1.0
    assert first.last_exit_at is not None
    print(f"\nworker restart 1: back-off {first.backoff_seconds:.0f}s, killed at {killed_at:.1f}")

    again, _ = kill(stack, "worker")  # a crash within a minute of the last start: the backoff doubles
    second = restarted(stack, "worker", again)
    assert second.restarts == before.restarts + 2
    assert second.backoff_seconds == 2.0
    print(f"worker restart 2: back-off {second.backoff_seconds:.0f}s")

    shown = dev(stack, "status")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "running" in row(shown.stdout, "worker") and "signal 9" in row(shown.stdout, "worker")


def test_dev_status_tells_a_down_component_and_a_second_up_repairs_it(stack: Stack) -> None:
    hold(stack.state_dir, "controllers")  # kept down, as a Deployment scaled to zero, until `dev up`
    before, _ = kill(stack, "controllers")
    wait_for(lambda: component(stack, "controllers").state == "held", "the supervisor to see the exit")

    shown = dev(stack, "status")
    assert shown.returncode == 3, "status fails while a component is down"
    line = row(shown.stdout, "controllers")
    assert "held" in line and "signal 9" in line and "running" not in line, line

    repaired = dev(stack, "up")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "controllers is not; restarting it" in repaired.stdout and "repaired in" in repaired.stdout
    now = restarted(stack, "controllers", before, timeout=5)
    assert now.restarts == before.restarts + 1
    assert dev(stack, "status").returncode == 0


@pytest.mark.long
def test_a_second_up_after_the_supervisor_died_stops_its_orphans_and_starts_afresh(tmp_path: Path) -> None:
    env = {**os.environ, "KAITO_STATE_DIR": str(tmp_path), "COLUMNS": "200"}

    def kaitoctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kaitoctl", "dev", *args], cwd=str(ROOT), env=env,
            capture_output=True, text=True, timeout=400,
        )  # fmt: skip

    first = kaitoctl("up", "--temporal-port", "0", "--ui-port", "0")
    assert first.returncode == 0, first.stderr
    dead = StackInfo.read(tmp_path)
    assert dead is not None
    try:
        os.kill(dead.pid, signal.SIGKILL)  # the supervisor dies; its children do not
        wait_for(lambda: not pid_alive(dead.pid), "the supervisor to be gone")
        orphans = {name: c for name, c in dead.components.items() if c.alive}
        assert {"temporal", "worker", "controllers"} <= set(orphans)
        shown = kaitoctl("status")
        assert shown.returncode == 1 and "supervisor" in shown.stdout and "is gone" in shown.stdout

        again = kaitoctl("up", "--temporal-port", "0", "--ui-port", "0")
        assert again.returncode == 0, again.stderr
        assert "left running by a local cloud that died" in again.stdout
        assert not [name for name, c in orphans.items() if c.alive], "every orphan was stopped"
        assert kaitoctl("status").returncode == 0
    finally:
        assert kaitoctl("down").returncode == 0
        for c in dead.components.values():
            if c.alive and c.pid:
                os.kill(c.pid, signal.SIGKILL)
