"""Real parts for the bootstrap's integration tests: a Temporal dev server, the Azure emulator trusting a
real control plane's issuer, and bootstrap workers as separate processes that a test can kill by PID."""

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from connections.temporal import TemporalSettings, connect
from localcloud.azure.config import EmulatorConfig, OperationDurations
from localcloud.azure.launcher import AzureEmulatorProcess
from localcloud.controlplane import ControlPlane
from localcloud.local_bootstrap import operator_env
from localcloud.temporal_server import TemporalDevServer
from tests.conftest import ROOT
from tests.waiting import wait_for_async
from workflows.bootstrap_contracts import BOOTSTRAP_TASK_QUEUE

WRITES = ("PUT", "POST", "PATCH", "DELETE")


class BootstrapParts:
    """A dev server and an emulator (fresh state each), bootstrap workers on demand, all stopped by PID."""

    def __init__(self, control_plane: ControlPlane, directory: Path, *, cluster_update_seconds: float = 1.0):
        self.control_plane = control_plane
        self.dir = directory
        self.temporal = TemporalDevServer(directory / "temporal.db", directory / "temporal.log")
        durations = OperationDurations.uniform(0.5)
        durations.cluster_update = cluster_update_seconds
        self.azure = AzureEmulatorProcess(
            EmulatorConfig(
                state_file=directory / "azure-state.json",
                oidc_issuer_url=control_plane.issuer,
                issuer_ca_files=[Path(control_plane.ca_cert)],
                durations=durations,
                send_retry_after=False,
                poll_hint_ms=100,
            ),
            log_file=directory / "azure.log",
        )
        self.workers: list[subprocess.Popen[bytes]] = []
        self.client: Client | None = None

    async def __aenter__(self) -> Self:
        try:
            await self.temporal.start()
            await self.azure.start()
            self.client = await connect(TemporalSettings(address=self.temporal.address))
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.terminate()
                try:
                    await asyncio.to_thread(process.wait, 20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    await asyncio.to_thread(process.wait)
        await self.azure.stop()
        await self.temporal.stop()

    # ---- workers ------------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return operator_env(self.azure, self.temporal.address, self.control_plane.kubeconfig)

    async def start_worker(self) -> subprocess.Popen[bytes]:
        """`python -m worker.bootstrap_worker` with the operator's credential; returns once it polls."""
        index = len(self.workers)
        with (self.dir / f"bootstrap-worker-{index}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker.bootstrap_worker"], env=self.env(), cwd=str(ROOT),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.workers.append(process)

        async def polling() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"bootstrap worker exited {process.returncode}: {self.worker_log(index)}"
                )
            return await self.polls(process.pid)

        await wait_for_async(polling, "the bootstrap worker to poll")
        return process

    def worker_log(self, index: int) -> str:
        return (self.dir / f"bootstrap-worker-{index}.log").read_text(errors="replace")[-3000:]

    async def polls(self, pid: int) -> bool:
        assert self.client is not None
        described = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=BOOTSTRAP_TASK_QUEUE),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return any(p.identity.startswith(f"{pid}@") for p in described.pollers)

    @staticmethod
    async def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL by PID: the worker dies mid-step without finishing or failing anything."""
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait)

    # ---- the emulator's control API -----------------------------------------------------------------

    def control(self, method: str, path: str, body: Any = None) -> Any:
        context = ssl.create_default_context(cafile=str(self.azure.ca_file))
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.azure.base_url}/_emulator/{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return json.loads(response.read())

    async def requests(self, after: int = 0) -> list[dict[str, Any]]:
        answer = await asyncio.to_thread(self.control, "GET", f"requests?after={after}")
        return list(answer["requests"])

    async def last_seq(self) -> int:
        return int((await asyncio.to_thread(self.control, "GET", "requests?op=none"))["lastSeq"])

    async def writes(self, after: int = 0) -> list[dict[str, Any]]:
        """ARM writes after request number `after` (token requests are not writes)."""
        return [r for r in await self.requests(after) if r["method"] in WRITES and r["op"] != "token.post"]

    def cli_env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "KAITO_"))},
            "KAITO_TEMPORAL_ADDRESS": self.temporal.address,
            "KAITO_STATE_DIR": str(self.dir / "no-local-cloud"),
        }
