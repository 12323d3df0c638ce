"""The whole local cloud, as `kaitoctl dev up` runs it, driven from outside like a user would.

One stack per test module: `python -m localcloud.stack` in the background, its endpoints read from
`stack.json`, stopped by PID at the end (and on its own if this test process dies).
"""

import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcloud.processes import log_tail, pid_alive, stop_process
from localcloud.stack_file import StackInfo
from tests.conftest import ROOT, load_example
from tests.waiting import wait_for

START_TIMEOUT = 240.0
STEP_TIMEOUT = 120.0  # seconds one step of a workspace (provisioning, a delete) may take here


@dataclass
class Stack:
    info: StackInfo
    state_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": self.info.kubeconfig,
            "KAITO_TEMPORAL_ADDRESS": self.info.temporal,
            "KAITO_STATE_DIR": str(self.state_dir),
        }

    def run(
        self, *argv: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=120, input=stdin)
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(self.info.kubectl, *args, check=check, stdin=stdin)

    def apply(self, manifest: dict[str, Any]) -> None:
        """`kubectl apply` of a manifest, as a user applies an edited example."""
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))

    def kaitoctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "kaitoctl", *args, check=check)

    def temporal(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        temporal = str(Path(sys.executable).parent / "temporal")
        return self.run(temporal, *args, "--address", self.info.temporal, check=check)

    def workspace(self, name: str) -> dict[str, Any] | None:
        done = self.kubectl("get", "workspace", name, "-o", "json", check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None

    def azure(self, path: str, patch: dict[str, Any] | None = None) -> Any:
        """GET (or PATCH with a JSON body) one of the emulator's /_emulator control endpoints."""
        context = ssl.create_default_context(cafile=self.info.azure_ca)
        url = f"{self.info.azure}{path}"
        request = urllib.request.Request(url)
        if patch is not None:
            headers = {"Content-Type": "application/json"}
            request = urllib.request.Request(url, json.dumps(patch).encode(), headers, method="PATCH")
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return json.loads(response.read())

    def explain(self, name: str) -> str:
        """What a user would look at when a workspace is stuck: the workflow's view and the cluster's."""
        status = self.kaitoctl("workspace", "get", name, "-o", "json", check=False)
        objects = self.kubectl("get", "workspace,statefulset,pods,nodes", "-A", "-o", "wide", check=False)
        return f"workflow status:\n{status.stdout or status.stderr}\ncluster:\n{objects.stdout}"

    def phase(self, name: str) -> str | None:
        shown = self.kaitoctl("workspace", "get", name, "-o", "json", check=False)
        return str(json.loads(shown.stdout)["phase"]) if shown.returncode == 0 else None

    def gpu_pools(self) -> list[dict[str, Any]]:
        return [p for p in self.azure("/_emulator/agentpools")["value"] if p["mode"] == "User"]

    def requests(self, op: str) -> list[dict[str, Any]]:
        answer = self.azure(f"/_emulator/requests?op={op}")
        return list(answer["requests"] if isinstance(answer, dict) else answer)


def example(file: str, **metadata: Any) -> dict[str, Any]:
    """One of examples/ with its metadata replaced (a name of the test's own, say)."""
    manifest = load_example(file)
    manifest["metadata"] = metadata
    return manifest


def condition(workspace: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in ((workspace or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("localcloud")
    log_path = state / "stack.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "localcloud.stack", "--state-dir", str(state), "--ui-port", "0",
         "--temporal-port", "0", "--exit-with-parent"],
        cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def started() -> StackInfo | None:
        if process.poll() is not None:
            raise AssertionError(f"the local cloud exited ({process.returncode}):\n{log_tail(log_path, 60)}")
        return StackInfo.read(state)

    info: StackInfo | None = None
    try:
        info = wait_for(
            started, "the local cloud to write stack.json", timeout=START_TIMEOUT,
            explain=lambda: log_tail(log_path, 60),
        )  # fmt: skip
        yield Stack(info=info, state_dir=state)
    finally:
        stop_process(process, grace=90)
        log.close()
        pids = info.pids if info else {}
        leftovers = {name: pid for name, pid in pids.items() if pid_alive(pid)}
        for pid in leftovers.values():
            os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"processes outlived the local cloud: {leftovers}"
