"""The local cloud: every endpoint the product talks to, on 127.0.0.1, started in dependency order.

Temporal dev server (UI included) → pod network → Kubernetes control plane (its apiserver reaching pods
through the pod network) → Azure emulator (trusting the apiserver's OIDC issuer) → GPU-node bridge and
inference stand-ins → the cluster bootstrap: the bootstrap worker (the operator's credential, its own task
queue) runs the bootstrap workflow, which enables workload identity, creates and federates the worker's
managed identity and installs the CRD, RBAC and service accounts → the worker's service-account token
(TokenRequest, refreshed like a projected volume) → the provisioning worker, holding only that workload
identity, and the controllers, as the separate processes they are in production. Only endpoints and
credentials tell the worker it is not on Azure.

Once up, every process is supervised as a kubelet supervises containers (`localcloud.supervision`): one
that dies is reported `restarting` in `stack.json` and started again with a doubling backoff — the
Temporal server on its database file, the control plane's components on their etcd data, the emulator
on its state file and port, the workers and controllers with the same environment. The in-process
parts (GPU-node bridge, stand-ins, token refresh) are restarted when they fail. SIGUSR1 skips a
running backoff (a second `kaitoctl dev up` sends it).

`python -m localcloud.stack --state-dir DIR` runs it until SIGTERM (what `kaitoctl dev up` starts in
the background); tests use `LocalCloud` as an async context manager.
"""

import argparse
import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
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
from temporalio.common import WorkflowIDConflictPolicy

from localcloud.azure.config import EmulatorConfig, OperationDurations
from localcloud.azure.launcher import AzureEmulatorProcess
from localcloud.controlplane import COMPONENTS, ControlPlane
from localcloud.gpu_bridge import GpuNodeBridge
from localcloud.local_bootstrap import (
    KUBE_TOKEN_FILE_NAME,
    KUBECONFIG_FILE_NAME,
    TOKEN_FILE_NAME,
    clean_env,
    local_request,
    operator_env,
    run_bootstrap,
    service_account_kubeconfig,
    workload_identity_env,
)
from localcloud.pod_network import PodNetwork, egress_selector_config
from localcloud.ports import free_port
from localcloud.processes import log_tail, stop_process
from localcloud.projected_token import ProjectedServiceAccountToken
from localcloud.stack_file import BootstrapSummary, StackInfo
from localcloud.standins import StandInManager
from localcloud.supervision import Backoff, Component, Supervisor
from localcloud.temporal_server import TEMPORAL_KINDS, TemporalKind, temporal_launcher
from localcloud.wake_gateway import GatewayPodRoutes, gateway_env, register_system_node
from workflows.bootstrap_contracts import BOOTSTRAP_TASK_QUEUE, BootstrapRequest, BootstrapResult
from workflows.workspace_contracts import TASK_QUEUE, WAKE_GATEWAY_APP

log = logging.getLogger("kaito.localcloud")
REPO = Path(__file__).resolve().parent.parent
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
    temporal: TemporalKind = "dev"  # "postgres": the Go-built server on PostgreSQL with mTLS
    backoff: Backoff = field(default_factory=Backoff)
    # The worker's namespaced rights only in these namespaces (RoleBindings); None: cluster-wide.
    workspace_namespaces: list[str] | None = None
    in_process_retry_seconds: float = 1.0  # before an in-process part that failed runs again
    apiserver_args: list[str] = field(default_factory=list)  # benchmarks: an audit log, say

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
        self.temporal = temporal_launcher(
            options.temporal, self.state_dir, port=options.temporal_port, ui_port=options.ui_port
        )
        self.client: Client | None = None  # one Temporal client for every probe and the bootstrap
        self.pod_network = PodNetwork()
        self.control_plane: ControlPlane | None = None
        self.azure: AzureEmulatorProcess | None = None
        self.kube: ApiClient | None = None
        self.bridge: GpuNodeBridge | None = None
        self.standins: StandInManager | None = None
        self.bootstrap_request: BootstrapRequest | None = None
        self.bootstrap_result: BootstrapResult | None = None
        self.worker_token: ProjectedServiceAccountToken | None = None
        self.kubeconfigs: dict[str, Path] = {}  # the worker's and the controllers' service-account ones
        self.timings: dict[str, float] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._socket_dir: Path | None = None
        self._liveness_url = f"http://127.0.0.1:{free_port()}/healthz"
        self.gateway_address = ("127.0.0.1", 0)  # the wake gateway process (its port: at its start)
        self.gateway_routes: GatewayPodRoutes | None = None
        self.supervisor = Supervisor(self.state_dir, self._changed, options.backoff)
        self._supervising: asyncio.Task[None] | None = None
        self._published = False  # stack.json is written once everything serves, then on every change

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
        loop = asyncio.get_running_loop()
        began = loop.time()
        self.client = await self.temporal.start()
        # A Unix socket path must stay under ~108 bytes, so it lives in a short private directory.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="kaito-pods-"))
        socket_path = await self.pod_network.start_unix(self._socket_dir / "pods.sock")
        egress = self.state_dir / "egress-selector.yaml"
        egress.write_text(egress_selector_config(socket_path))
        self.control_plane = ControlPlane(
            workdir=self.state_dir / "kube",
            extra_args={
                "kube-apiserver": [f"--egress-selector-config-file={egress}", *self.options.apiserver_args]
            },
        )
        await asyncio.to_thread(self.control_plane.start)
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
        self._tasks = [
            asyncio.create_task(self._keep_running("gpu-bridge", self.bridge.run)),
            asyncio.create_task(self._keep_running("standins", self.standins.run)),
        ]
        self.timings["infrastructure"] = loop.time() - began

        await self._bootstrap()
        assert self.bootstrap_result is not None and self.bootstrap_request is not None
        self.worker_token = ProjectedServiceAccountToken(
            self.kube,
            self.bootstrap_request.namespace,
            self.bootstrap_request.worker_service_account,
            self.state_dir / "worker-identity" / TOKEN_FILE_NAME,
        )
        await self.worker_token.refresh()
        self._tasks.append(asyncio.create_task(self._keep_running("worker-token", self.worker_token.run)))
        request = self.bootstrap_request
        self.kubeconfigs = {
            "worker": await self._service_account_kubeconfig("worker", request.worker_service_account),
            "controllers": await self._service_account_kubeconfig(
                "controllers", request.controller_service_account
            ),
        }

        if self.options.with_worker:
            self._spawn("worker", [sys.executable, "-m", "worker"], self.worker_env())
        if self.options.with_controllers:
            self._spawn("controllers", [sys.executable, "-m", "controllers"], self.controller_env())
        if self.options.with_worker:
            await self._until_ready("worker", partial(self._polling, "worker", TASK_QUEUE))
        if self.options.with_controllers:
            await self._until_ready("controllers", self._controllers_live)
        if self.options.with_worker:
            await self._start_gateway()
        self.timings["total"] = loop.time() - began
        self._supervise()

    async def _start_gateway(self) -> None:
        """The wake gateway process, and the route from its kwok pod's IP to it."""
        assert self.kube is not None
        await register_system_node(self.kube)  # where the gateway's pod is scheduled
        account = WAKE_GATEWAY_APP  # the bootstrap's gateway service account
        self.kubeconfigs["wake-gateway"] = await self._service_account_kubeconfig("wake-gateway", account)
        self.gateway_address = (
            "127.0.0.1",
            free_port(),
        )  # chosen just before it binds; its pod IP routes here
        self._spawn("wake-gateway", [sys.executable, "-m", "gateway"], self.gateway_env())
        await self._until_ready("wake-gateway", self._gateway_live)
        self.gateway_routes = GatewayPodRoutes(self.kube, self.pod_network, self.gateway_address)
        self._tasks.append(asyncio.create_task(self._keep_running("gateway-routes", self.gateway_routes.run)))

    def gateway_env(self) -> dict[str, str]:
        assert self.bootstrap_request is not None
        kubeconfig, namespace = str(self.kubeconfigs["wake-gateway"]), self.bootstrap_request.namespace
        return gateway_env(self._base_env(), kubeconfig, self.gateway_address, namespace)

    async def _gateway_live(self) -> bool:
        url = "http://{}:{}/_wake-gateway/healthz".format(*self.gateway_address)
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    # ---- supervision ----------------------------------------------------------------------------

    def _supervise(self) -> None:
        """Hand every process to the supervisor (each with how to start it again) and start it."""
        assert self.control_plane is not None and self.azure is not None
        temporal, cp, azure = self.temporal, self.control_plane, self.azure
        self.supervisor.add(Component(
            "temporal", lambda: temporal.process.pid if temporal.process else None,
            lambda: temporal.process.poll() if temporal.process else None, self._restart_temporal,
        ))  # fmt: skip
        for name in COMPONENTS:
            self.supervisor.add(Component(
                name, partial(self._cp_pid, name),
                partial(cp.exit_code, name), partial(self._restart_control_plane, name),
            ))  # fmt: skip
        self.supervisor.add(
            Component("azure", lambda: azure.pid, lambda: azure.returncode, self._restart_azure)
        )
        for name in self.processes:
            self.supervisor.add(Component(
                name, partial(self._child_pid, name), partial(self._child_exit, name),
                partial(self._respawn, name),
            ))  # fmt: skip
        self._supervising = asyncio.create_task(self.supervisor.run())

    def _cp_pid(self, name: str) -> int | None:
        assert self.control_plane is not None
        return self.control_plane.pids.get(name)

    def _child_pid(self, name: str) -> int | None:
        process = self.processes.get(name)
        return process.pid if process is not None else None

    def _child_exit(self, name: str) -> int | None:
        process = self.processes.get(name)
        return process.poll() if process is not None else None

    async def _restart_control_plane(self, name: str) -> None:
        """A control-plane component again, on its ports, PKI and (etcd) data directory."""
        assert self.control_plane is not None
        await asyncio.to_thread(self.control_plane.restart, name)

    async def _restart_temporal(self) -> None:
        """Temporal again, on the same port and store (the dev server's file, or PostgreSQL)."""
        self.client = await self.temporal.restart()

    async def _restart_azure(self) -> None:
        """The emulator again, on the same port and state file (pools, identities, operations kept)."""
        assert self.azure is not None
        await self.azure.start()

    async def _respawn(self, name: str) -> None:
        """One of our Python processes again, with the environment it had, ready when it serves."""
        argv, env, probe = self._children()[name]
        self._spawn(name, argv, env())
        try:
            await self._until_ready(name, probe)
        except BaseException:  # a start that failed leaves no process behind to be started twice
            await asyncio.to_thread(stop_process, self.processes[name])
            raise

    def _children(
        self,
    ) -> dict[str, tuple[list[str], Callable[[], dict[str, str]], Callable[[], Awaitable[bool]]]]:
        python = sys.executable
        return {
            "bootstrap-worker": (
                [python, "-m", "worker.bootstrap_worker"], self.bootstrap_worker_env,
                partial(self._polling, "bootstrap-worker", BOOTSTRAP_TASK_QUEUE),
            ),
            "worker": (
                [python, "-m", "worker"], self.worker_env, partial(self._polling, "worker", TASK_QUEUE),
            ),
            "controllers": ([python, "-m", "controllers"], self.controller_env, self._controllers_live),
            "wake-gateway": ([python, "-m", "gateway"], self.gateway_env, self._gateway_live),
        }  # fmt: skip

    async def _keep_running(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """An in-process part, run again whenever it fails (the apiserver or emulator went away, say)."""
        while True:
            try:
                await run()
                return
            except Exception:
                log.exception("%s failed; running it again", name)
                await asyncio.sleep(self.options.in_process_retry_seconds)

    def _changed(self) -> None:
        """A component changed state: `stack.json` says so at once (`kaitoctl dev status` reads it)."""
        if self._published:
            self.publish()

    def publish(self) -> None:
        """Write `stack.json`; from now on every change of a component rewrites it."""
        self.endpoints().write(self.state_dir)
        self._published = True

    async def _service_account_kubeconfig(self, component: str, account: str) -> Path:
        """`component`'s kubeconfig: its service account's token (apiserver audience), kept fresh."""
        assert self.kube is not None and self.control_plane is not None and self.bootstrap_request
        directory = self.state_dir / f"{component}-kube"
        token = ProjectedServiceAccountToken(
            self.kube, self.bootstrap_request.namespace, account, directory / KUBE_TOKEN_FILE_NAME,
            audience=self.control_plane.issuer,
        )  # fmt: skip
        await token.refresh()
        self._tasks.append(asyncio.create_task(self._keep_running(f"{component}-kube-token", token.run)))
        return service_account_kubeconfig(
            directory / KUBECONFIG_FILE_NAME, self.control_plane.apiserver_url,
            Path(self.control_plane.ca_cert), token.path,
            f"system:serviceaccount:{self.bootstrap_request.namespace}:{account}",
        )  # fmt: skip

    async def _bootstrap(self) -> None:
        """The bootstrap worker (operator credential) runs the bootstrap workflow through Temporal."""
        assert self.azure is not None and self.client is not None
        loop = asyncio.get_running_loop()
        began = loop.time()
        self._spawn(
            "bootstrap-worker", [sys.executable, "-m", "worker.bootstrap_worker"], self.bootstrap_worker_env()
        )
        await self._until_ready(
            "bootstrap-worker", partial(self._polling, "bootstrap-worker", BOOTSTRAP_TASK_QUEUE)
        )
        self.bootstrap_request = local_request(
            self.azure.config, workspace_namespaces=self.options.workspace_namespaces
        )
        # A stack that died mid-bootstrap may have left a run behind: this start replaces it.
        self.bootstrap_result = await run_bootstrap(
            self.client,
            self.bootstrap_request,
            timeout=timedelta(minutes=15 if self.options.realistic else 5),
            conflict=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        )
        self.timings["bootstrap"] = loop.time() - began
        log.info(
            "bootstrap done in %.1fs: identity %s federated with %s (issuer %s); azure changed: %s",
            self.timings["bootstrap"], self.bootstrap_result.client_id, self.bootstrap_result.subject,
            self.bootstrap_result.issuer_url, self.bootstrap_result.azure_changed or "nothing",
        )  # fmt: skip

    async def restart_worker(self) -> None:
        """Stop the provisioning worker by PID and start a fresh one (a pod restart: no cached token)."""
        process = self.processes.get("worker")
        if process is not None:
            await asyncio.to_thread(stop_process, process)
        if self._supervising is None:
            await self._respawn("worker")
            return
        # The supervisor sees the exit and starts it again; the first restart waits one backoff step.
        self.supervisor.restart_now()
        await self._until(lambda: self._child_pid("worker") != process.pid if process else True)
        await self._until_ready("worker", partial(self._polling, "worker", TASK_QUEUE))

    async def _until(self, condition: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"not done after {timeout:.0f}s")
            await asyncio.sleep(0.1)

    async def _until_ready(
        self, name: str, probe: Callable[[], Awaitable[bool]], timeout: float = 90.0
    ) -> None:
        """Probe a child until it serves, failing fast (with its log) if it exits first. A probe that
        cannot ask yet (Temporal itself restarting) counts as not ready."""
        deadline = asyncio.get_running_loop().time() + timeout
        process = self.processes[name]
        while not await self._answers(probe):
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}:\n{log_tail(self.logs / f'{name}.log')}"
                )
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"{name} not ready after {timeout:.0f}s:\n{log_tail(self.logs / f'{name}.log')}"
                )
            await asyncio.sleep(0.2)

    @staticmethod
    async def _answers(probe: Callable[[], Awaitable[bool]]) -> bool:
        try:
            return await probe()
        except Exception as error:
            log.debug("probe not answered yet: %s", error)
            return False

    async def _polling(self, name: str, task_queue: str) -> bool:
        """True once the process `name` itself polls `task_queue` (pollers are named `<pid>@<host>`, so a
        poller left over from a process that was replaced does not count)."""
        assert self.client is not None
        described = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        pid = self.processes[name].pid
        return any(poller.identity.startswith(f"{pid}@") for poller in described.pollers)

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
                env={**env, **self.temporal.client_env()},
                cwd=str(REPO),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _base_env(self) -> dict[str, str]:
        return {**clean_env(), "KAITO_TEMPORAL_ADDRESS": self.temporal.address, "PYTHONUNBUFFERED": "1"}

    def bootstrap_worker_env(self) -> dict[str, str]:
        """The bootstrap worker's: the operator's client secret and the admin kubeconfig."""
        assert self.azure is not None and self.control_plane is not None
        return operator_env(self.azure, self.temporal.address, self.control_plane.kubeconfig)

    def worker_env(self) -> dict[str, str]:
        """The provisioning worker's: endpoints and the workload identity only — no secret."""
        assert self.azure is not None and self.control_plane is not None
        assert self.bootstrap_result is not None and self.worker_token is not None
        env = workload_identity_env(
            self.azure,
            self.temporal.address,
            self.kubeconfigs["worker"],
            self.bootstrap_result,
            self.worker_token.path,
        )
        if self.options.node_ready_timeout_seconds:
            env["KAITO_NODE_READY_TIMEOUT"] = f"PT{self.options.node_ready_timeout_seconds}S"
        return env

    def controller_env(self) -> dict[str, str]:
        assert self.control_plane is not None
        return {
            **self._base_env(),
            "KUBECONFIG": str(self.kubeconfigs["controllers"]),
            "KAITO_CONTROLLER_LIVENESS": self._liveness_url,
        }

    async def stop(self) -> None:
        """Stop everything by PID, consumers before what they consume (the supervisor first)."""
        if self._supervising is not None:
            self._supervising.cancel()
            await asyncio.gather(self._supervising, return_exceptions=True)
            self._supervising = None
        self._published = False
        if self.gateway_routes is not None:
            self.gateway_routes.stop()
        for name in ("wake-gateway", "controllers", "worker", "bootstrap-worker"):
            process = self.processes.pop(name, None)
            if process is not None:
                await asyncio.to_thread(stop_process, process)
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

    def endpoints(self) -> StackInfo:
        """What `stack.json` says: every endpoint, the bootstrap, startup timings and each PID."""
        assert self.control_plane is not None and self.azure is not None
        assert self.temporal.process is not None
        bin_dir = self.control_plane.bin_dir
        return StackInfo(
            pid=os.getpid(),
            temporal=self.temporal.address,
            temporal_ui=self.temporal.ui_url,
            kubeconfig=str(self.control_plane.kubeconfig),
            apiserver=self.control_plane.apiserver_url,
            kubectl=str(bin_dir / "kubectl") if bin_dir else "kubectl",
            azure=self.azure.base_url,
            azure_ca=str(self.azure.ca_file),
            boot_delay_seconds=self.options.effective_boot_delay,
            logs=str(self.logs),
            bootstrap=self._bootstrap_summary(),
            startup_seconds={name: round(value, 1) for name, value in self.timings.items()},
            pids={
                **self.temporal.pids,
                **self.control_plane.pids,
                "azure": self.azure.pid,
                **{name: p.pid for name, p in self.processes.items()},
            },
            components=self.supervisor.statuses(),
        )

    def _bootstrap_summary(self) -> BootstrapSummary | None:
        if self.bootstrap_request is None or self.bootstrap_result is None:
            return None
        return BootstrapSummary(
            workflow_id=self.bootstrap_request.workflow_id,
            task_queue=BOOTSTRAP_TASK_QUEUE,
            request=self.bootstrap_request,
            client_id=self.bootstrap_result.client_id,
            principal_id=self.bootstrap_result.principal_id,
            issuer=self.bootstrap_result.issuer_url,
            subject=self.bootstrap_result.subject,
            worker_token_file=str(self.worker_token.path) if self.worker_token else None,
        )


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
    async with LocalCloud(options) as cloud:
        loop.add_signal_handler(signal.SIGUSR1, cloud.supervisor.restart_now)
        cloud.publish()
        log.info("local cloud up: %s", cloud.endpoints().model_dump_json())
        await stop.wait()
        StackInfo.remove(options.state_dir)
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
    parser.add_argument("--temporal", choices=TEMPORAL_KINDS, default="dev", help="dev, or postgres (mTLS)")
    parser.add_argument(
        "--workspace-namespace", action="append", dest="workspace_namespaces", default=None,
        help="grant the worker its namespaced rights only here (repeatable; default: cluster-wide)",
    )  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    options = LocalCloudOptions(
        state_dir=args.state_dir, realistic=args.realistic, boot_delay=args.boot_delay,
        temporal_port=args.temporal_port, ui_port=args.ui_port, temporal=args.temporal,
        workspace_namespaces=args.workspace_namespaces,
    )  # fmt: skip
    asyncio.run(serve(options, exit_with_parent=args.exit_with_parent))


if __name__ == "__main__":
    main()
