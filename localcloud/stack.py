"""The local cloud: every endpoint the product talks to, on 127.0.0.1, started in dependency order.

Temporal dev server (UI included) → pod network → Kubernetes control plane (its apiserver reaching pods
through the pod network) → Workspace CRD → Azure emulator (trusting the apiserver's OIDC issuer) →
GPU-node bridge and inference stand-ins → the provisioning worker and the controllers, as the separate
processes they are in production. Only endpoints and credentials tell the worker it is not on Azure.

`python -m localcloud.stack --state-dir DIR` runs it until SIGTERM (what `kaitoctl dev up` starts in
the background); tests use `LocalCloud` as an async context manager.
"""

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
from kubernetes import config as kube_config
from kubernetes.client import ApiClient
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from localcloud.azure.config import EmulatorConfig, OperationDurations
from localcloud.azure.launcher import AzureEmulatorProcess
from localcloud.controlplane import ControlPlane
from localcloud.gpu_bridge import GpuNodeBridge
from localcloud.pod_network import PodNetwork, egress_selector_config
from localcloud.ports import free_port
from localcloud.standins import StandInManager
from localcloud.temporal_server import TemporalDevServer
from workflows.contracts import TASK_QUEUE

log = logging.getLogger("kaito.localcloud")
REPO = Path(__file__).resolve().parent.parent
CRD = REPO / "deploy" / "crds" / "workspace.kaito.sh.yaml"
DEMO_BOOT_SECONDS = 3.0
REALISTIC_BOOT_SECONDS = 240.0


@dataclass
class LocalCloudOptions:
    state_dir: Path
    realistic: bool = False
    boot_delay: float | None = None  # None: the mode's default
    operation_seconds: float = 1.0  # ARM operation duration in demo mode
    temporal_port: int = 0
    ui_port: int = 0
    node_ready_timeout_seconds: int | None = None
    with_worker: bool = True
    with_controllers: bool = True

    @property
    def effective_boot_delay(self) -> float:
        if self.boot_delay is not None:
            return self.boot_delay
        return REALISTIC_BOOT_SECONDS if self.realistic else DEMO_BOOT_SECONDS


class LocalCloud:
    def __init__(self, options: LocalCloudOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir
        self.logs = self.state_dir / "logs"
        self.temporal = TemporalDevServer(
            self.state_dir / "temporal.db", self.logs / "temporal.log",
            port=options.temporal_port, ui_port=options.ui_port,
        )  # fmt: skip
        self.pod_network = PodNetwork()
        self.control_plane: ControlPlane | None = None
        self.azure: AzureEmulatorProcess | None = None
        self.kube: ApiClient | None = None
        self.bridge: GpuNodeBridge | None = None
        self.standins: StandInManager | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._socket_dir: Path | None = None
        self._liveness_url = f"http://127.0.0.1:{free_port()}/healthz"

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> Self:
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start(self) -> None:
        await self.temporal.start()
        # A Unix socket path must stay under ~108 bytes, so it lives in a short private directory.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="kaito-pods-"))
        socket_path = await self.pod_network.start_unix(self._socket_dir / "pods.sock")
        egress = self.state_dir / "egress-selector.yaml"
        egress.write_text(egress_selector_config(socket_path))
        self.control_plane = ControlPlane(
            workdir=self.state_dir / "kube",
            extra_args={"kube-apiserver": [f"--egress-selector-config-file={egress}"]},
        )
        await asyncio.to_thread(self.control_plane.start)
        await asyncio.to_thread(self.control_plane.kubectl, "apply", "--server-side", "-f", str(CRD))
        self.kube = kube_config.new_client_from_config(config_file=str(self.control_plane.kubeconfig))

        self.azure = AzureEmulatorProcess(self._emulator_config(), log_file=self.logs / "azure.log")
        await self.azure.start()
        self.bridge = GpuNodeBridge(
            self.azure.base_url,
            str(self.azure.ca_file),
            self.kube,
            boot_delay=self.options.effective_boot_delay,
        )
        self.standins = StandInManager(self.kube, self.pod_network)
        self._tasks = [asyncio.create_task(self.bridge.run()), asyncio.create_task(self.standins.run())]
        if self.options.with_worker:
            self._spawn("worker", [sys.executable, "-m", "worker"], self.worker_env())
        if self.options.with_controllers:
            self._spawn("controllers", [sys.executable, "-m", "controllers"], self.controller_env())
        if self.options.with_worker:
            await self._until_ready("worker", self._worker_polling)
        if self.options.with_controllers:
            await self._until_ready("controllers", self._controllers_live)

    async def _until_ready(
        self, name: str, probe: Callable[[], Awaitable[bool]], timeout: float = 90.0
    ) -> None:
        """Probe a child until it serves, failing fast (with its log) if it exits first."""
        deadline = asyncio.get_running_loop().time() + timeout
        process = self.processes[name]
        while not await probe():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}:\n{_tail(self.logs / f'{name}.log')}"
                )
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"{name} not ready after {timeout:.0f}s:\n{_tail(self.logs / f'{name}.log')}"
                )
            await asyncio.sleep(0.2)

    async def _worker_polling(self) -> bool:
        """True once a worker polls the provisioning task queue."""
        client = await Client.connect(self.temporal.address)
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=TASK_QUEUE),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return bool(described.pollers)

    async def _controllers_live(self) -> bool:
        try:
            async with aiohttp.ClientSession() as session, session.get(self._liveness_url) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    def _emulator_config(self) -> EmulatorConfig:
        assert self.control_plane is not None
        common: dict[str, Any] = {
            "state_file": self.state_dir / "azure-state.json",
            "oidc_issuer_url": self.control_plane.issuer,
            "issuer_ca_files": [Path(self.control_plane.ca_cert)],
        }
        if self.options.realistic:
            return EmulatorConfig.realistic(**common)
        return EmulatorConfig(durations=OperationDurations.uniform(self.options.operation_seconds), **common)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with (self.logs / f"{name}.log").open("ab") as log_file:
            self.processes[name] = subprocess.Popen(
                argv,
                env=env,
                cwd=str(REPO),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _base_env(self) -> dict[str, str]:
        return {**os.environ, "KAITO_TEMPORAL_ADDRESS": self.temporal.address, "PYTHONUNBUFFERED": "1"}

    def worker_env(self) -> dict[str, str]:
        """The provisioning worker's endpoints and credential (the operator's secret, for now)."""
        assert self.azure is not None and self.control_plane is not None
        config = self.azure.config
        env = {
            **self._base_env(),
            "KAITO_SUBSCRIPTION_ID": config.subscription_id,
            "KAITO_RESOURCE_GROUP": config.clusters[0].resource_group,
            "KAITO_CLUSTER_NAME": config.clusters[0].name,
            "KAITO_LOCATION": config.location,
            "KAITO_ARM_ENDPOINT": self.azure.base_url,
            "KAITO_AZURE_AUTHORITY": self.azure.base_url,
            "KAITO_AZURE_CA_BUNDLE": str(self.azure.ca_file),
            "KAITO_KUBECONFIG": str(self.control_plane.kubeconfig),
            "AZURE_TENANT_ID": config.tenant_id,
            "AZURE_CLIENT_ID": config.operator_client_id,
            "AZURE_CLIENT_SECRET": config.operator_client_secret,
            "KAITO_GRACEFUL_SHUTDOWN": "PT5S",
        }
        if self.options.node_ready_timeout_seconds:
            env["KAITO_NODE_READY_TIMEOUT"] = f"PT{self.options.node_ready_timeout_seconds}S"
        return env

    def controller_env(self) -> dict[str, str]:
        assert self.control_plane is not None
        return {
            **self._base_env(),
            "KUBECONFIG": str(self.control_plane.kubeconfig),
            "KAITO_CONTROLLER_LIVENESS": self._liveness_url,
        }

    async def stop(self) -> None:
        """Stop everything by PID, consumers before what they consume."""
        for name in ("controllers", "worker"):
            process = self.processes.pop(name, None)
            if process is not None:
                await _stop_process(process)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.standins is not None:
            await self.standins.stop()
        if self.bridge is not None:
            await self.bridge.stop()
        if self.azure is not None:
            await self.azure.stop()
        if self.kube is not None:
            self.kube.close()
            self.kube = None
        if self.control_plane is not None:
            await asyncio.to_thread(self.control_plane.stop)
        await self.pod_network.stop()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        await self.temporal.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- what users need to know ----------------------------------------------------------------

    def endpoints(self) -> dict[str, Any]:
        assert self.control_plane is not None and self.azure is not None
        return {
            "pid": os.getpid(),
            "temporal": self.temporal.address,
            "temporalUI": self.temporal.ui_url,
            "kubeconfig": str(self.control_plane.kubeconfig),
            "apiserver": self.control_plane.apiserver_url,
            "kubectl": str(self.control_plane.bin_dir / "kubectl")
            if self.control_plane.bin_dir
            else "kubectl",
            "azure": self.azure.base_url,
            "azureCA": str(self.azure.ca_file),
            "bootDelaySeconds": self.options.effective_boot_delay,
            "logs": str(self.logs),
            "pids": {
                "temporal": self.temporal.process.pid if self.temporal.process else None,
                **self.control_plane.pids,
                "azure": self.azure.pid,
                **{name: p.pid for name, p in self.processes.items()},
            },
        }


async def _stop_process(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        await asyncio.to_thread(process.wait, grace)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


STACK_FILE = "stack.json"


async def _parent_gone(parent: int, stop: asyncio.Event) -> None:
    """Stop when the process that started us dies (a test runner killed with SIGKILL, say)."""
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    stop.set()


async def serve(options: LocalCloudOptions, exit_with_parent: bool = False) -> None:
    """Run until SIGTERM/SIGINT; `stack.json` in the state dir says where everything listens."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watchdog = asyncio.create_task(_parent_gone(os.getppid(), stop)) if exit_with_parent else None
    stack_file = options.state_dir / STACK_FILE
    async with LocalCloud(options) as cloud:
        stack_file.write_text(json.dumps(cloud.endpoints(), indent=2))
        log.info("local cloud up: %s", json.dumps(cloud.endpoints()))
        await stop.wait()
        with contextlib.suppress(FileNotFoundError):
            stack_file.unlink()
    if watchdog is not None:
        watchdog.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the local cloud until SIGTERM.")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--realistic", action="store_true", help="AKS-like minutes instead of seconds")
    parser.add_argument("--boot-delay", type=float, default=None)
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument("--temporal-port", type=int, default=7233)
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process dies")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    options = LocalCloudOptions(
        state_dir=args.state_dir, realistic=args.realistic, boot_delay=args.boot_delay,
        temporal_port=args.temporal_port, ui_port=args.ui_port,
    )  # fmt: skip
    asyncio.run(serve(options, exit_with_parent=args.exit_with_parent))


if __name__ == "__main__":
    main()
