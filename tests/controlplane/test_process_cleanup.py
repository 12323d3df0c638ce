"""No control-plane process outlives the test process, even when pytest is SIGKILLed.

The outer test runs pytest on `test_probe_holds_a_control_plane` in a subprocess, waits until
that inner session's control plane is up, SIGKILLs the inner pytest (no cleanup code can run)
and asserts the reaper removed every component process and the working directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from localcloud.controlplane import BIN_ENV, COMPONENTS, REPO_ROOT, ControlPlane, ControlPlaneError
from localcloud.processes import pid_alive
from tests.waiting import wait_for

pytestmark = pytest.mark.controlplane

PROBE_ENV = "KAITO_CP_ORPHAN_PROBE"


@pytest.mark.skipif(not os.environ.get(PROBE_ENV), reason="inner half of the SIGKILL test; run by it")
def test_probe_holds_a_control_plane() -> None:
    with ControlPlane() as cp:
        state = {"pids": cp.pids, "reaper": cp.reaper_pid, "workdir": str(cp.workdir)}
        Path(os.environ[PROBE_ENV]).write_text(json.dumps(state))
        threading.Event().wait(600)  # block until the outer test kills this process


def test_sigkilled_pytest_leaves_no_processes(bin_dir: Path, tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    env = {**os.environ, PROBE_ENV: str(state_file), BIN_ENV: str(bin_dir)}
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{__file__}::test_probe_holds_a_control_plane"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def read_state() -> dict[str, Any] | None:
        text = state_file.read_text() if state_file.exists() else ""
        return json.loads(text) if text else None

    try:
        state = wait_for(
            read_state,
            timeout=180,
            what="inner control plane up",
            tolerate=(ValueError,),  # the file read while the inner test writes it
        )
    except AssertionError:
        inner.kill()
        raise AssertionError(inner.communicate()[0].decode(errors="replace")) from None
    pids: dict[str, int] = state["pids"]
    assert sorted(pids) == sorted(COMPONENTS)
    assert all(pid_alive(pid) for pid in pids.values())

    inner.send_signal(signal.SIGKILL)
    inner.wait()

    wait_for(
        lambda: not any(pid_alive(pid) for pid in pids.values()),
        timeout=30,
        what="every component process to be gone",
    )
    wait_for(lambda: not pid_alive(state["reaper"]), timeout=30, what="reaper exits")
    assert not Path(state["workdir"]).exists()


async def test_failing_test_body_stops_everything(bin_dir: Path) -> None:
    """`async with` (or `with`) stops every process and removes the work dir when the body raises."""
    cp = ControlPlane(bin_dir)
    with pytest.raises(RuntimeError, match="test body failed"):
        async with cp:
            assert sorted(cp.spawned) == sorted(COMPONENTS)
            workdir = cp.workdir
            raise RuntimeError("test body failed")
    assert not any(pid_alive(pid) for pid in cp.spawned.values())
    assert not workdir.exists()


def test_failed_start_reports_the_log_and_cleans_up(bin_dir: Path) -> None:
    cp = ControlPlane(bin_dir, extra_args={"kube-scheduler": ["--no-such-flag"]})
    with pytest.raises(ControlPlaneError, match="kube-scheduler exited") as err:
        cp.start()
    assert "unknown flag: --no-such-flag" in str(err.value)
    assert {"etcd", "kube-apiserver", "kube-scheduler"} <= set(cp.spawned)
    assert not any(pid_alive(pid) for pid in cp.spawned.values())
