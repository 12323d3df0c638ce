"""`kaitoctl dev up --temporal=postgres`: the local cloud on the production-shape Temporal (Go-built server,
PostgreSQL, mTLS), printing where the UI is and the client settings; `dev down` stops all of it."""

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from localcloud.processes import pid_alive
from localcloud.stack_file import StackInfo
from localcloud.temporal_cluster_postgres import PostgresCluster
from tests.conftest import ROOT


def kaitoctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kaitoctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_dev_up_offers_the_postgres_temporal_and_refuses_an_unknown_one() -> None:
    shown = kaitoctl("dev", "up", "--help")
    assert shown.returncode == 0 and "--temporal" in shown.stdout and "postgres" in shown.stdout
    refused = kaitoctl("dev", "up", "--temporal", "mysql")
    assert refused.returncode == 2
    assert re.search(r"'mysql' is not one of\s+'dev',\s+'postgres'", refused.stderr.replace("│", ""))
    stack = subprocess.run(
        [sys.executable, "-m", "localcloud.stack", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert "--temporal {dev,postgres}" in stack.stdout


@pytest.mark.long
@pytest.mark.controlplane
@pytest.mark.temporalserver
def test_dev_up_on_postgres_prints_the_ui_and_dev_down_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    info: StackInfo | None = None
    try:
        up = kaitoctl("dev", "up", "--temporal=postgres", "--state-dir", str(state), "--temporal-port", "0",
                      "--ui-port", "0", timeout=400)  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr
        info = StackInfo.read(state)
        assert info is not None
        assert re.search(rf"Temporal UI\s+{re.escape(info.temporal_ui)}", up.stdout)
        assert "KAITO_TEMPORAL_TLS_CLIENT_CERT=" in up.stdout.replace("\n", "")
        with urllib.request.urlopen(f"{info.temporal_ui}/api/v1/namespaces/default", timeout=30) as answer:
            assert json.loads(answer.read())["namespaceInfo"]["name"] == "default"
        assert {"postgres", "temporal", "temporal-ui", "worker", "controllers"} <= set(info.pids)
        status = kaitoctl("dev", "status", "--state-dir", str(state))
        assert "postgres" in status.stdout and "temporal-ui" in status.stdout
    finally:
        down = kaitoctl("dev", "down", "--state-dir", str(state), timeout=200)
        leftovers = {name: pid for name, pid in (info.pids if info else {}).items() if pid_alive(pid)}
        for pid in leftovers.values():
            os.kill(pid, 9)
        PostgresCluster(state / "temporal-cluster", tmp_path / "pg.log").discard()
    assert down.returncode == 0 and not leftovers, f"{down.stdout}{down.stderr} still running: {leftovers}"
