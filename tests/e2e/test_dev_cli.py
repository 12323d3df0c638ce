"""`kaitoctl dev up | status | down` as a newcomer runs them: up once, reuse on the second up, and
nothing left running after down."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.processes import pid_alive
from localcloud.stack_file import StackInfo
from tests.conftest import ROOT

pytestmark = pytest.mark.controlplane


def kaitoctl(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAITO_STATE_DIR": str(state), "COLUMNS": "200"}
    env.pop("KUBECONFIG", None)
    env.pop("KAITO_TEMPORAL_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "-m", "kaitoctl", *args],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_up_reuses_status_reports_and_down_stops_everything(tmp_path: Path) -> None:
    first = kaitoctl(tmp_path, "dev", "up", "--temporal-port", "0", "--ui-port", "0")
    try:
        assert first.returncode == 0, first.stderr
        assert "local cloud up in" in first.stdout and "Temporal UI" in first.stdout
        stack = StackInfo.read(tmp_path)
        assert stack is not None, "up leaves stack.json behind"
        pids = stack.pids
        assert {"temporal", "kube-apiserver", "etcd", "kwok", "azure", "worker", "controllers"} <= set(pids)

        second = kaitoctl(tmp_path, "dev", "up")
        assert second.returncode == 0 and "already running" in second.stdout
        reread = StackInfo.read(tmp_path)
        assert reread is not None and reread.pid == stack.pid

        status = kaitoctl(tmp_path, "dev", "status")
        assert status.returncode == 0 and status.stdout.count("running") >= len(pids)

        listed = kaitoctl(tmp_path, "workspace", "list", "-o", "json")
        assert listed.returncode == 0 and json.loads(listed.stdout) == [], (
            "the CLI finds the stack on its own"
        )
    finally:
        down = kaitoctl(tmp_path, "dev", "down")
    assert down.returncode == 0 and "local cloud stopped" in down.stdout
    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    assert not pid_alive(stack.pid)
    after = kaitoctl(tmp_path, "dev", "status")
    assert after.returncode == 1 and "not running" in after.stdout

    again = kaitoctl(tmp_path, "dev", "up", "--temporal-port", "0", "--ui-port", "0")
    try:
        assert again.returncode == 0, f"a second up on the kept state works:\n{again.stderr}"
    finally:
        assert kaitoctl(tmp_path, "dev", "down").returncode == 0
