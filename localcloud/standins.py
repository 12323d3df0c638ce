"""Inference stand-ins for the pods kwok runs, a bounded number of processes for any number of pods.

A pod counts once kwok reports it Running with a pod IP. Its stand-in is added to a host process
(`inference_standin --host-pods`, at most `pods_per_process` pods each, a real process with its PID
tracked) on a loopback port of its own, and `podIP:5000` is routed there, so the apiserver's service proxy
reaches it exactly as it would reach vLLM in the pod. A thousand pods take ten processes, not a thousand.

kwok reports the pod Running but not Ready; the manager then plays the kubelet's readiness probe: once
the stand-in answers `GET /health` on its route it marks the pod's Ready and ContainersReady conditions
True. Only then do EndpointSlices list the pod, so nothing reaches a pod before it can answer — the
first health check through the Service never meets a 503. When the pod goes, its stand-in is removed
from its host and the route with it.
"""

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from localcloud.kube_watch import watch_objects
from localcloud.pod_network import Address, PodNetwork
from workflows.naming import INFERENCE_PORT, LABEL_WORKSPACE

log = logging.getLogger("kaito.standins")
START_TIMEOUT = 30.0
PODS_PER_PROCESS = 100
PROBE_PERIOD = 0.1  # seconds between readiness probes of a stand-in that does not answer yet
PROBE_TIMEOUT = 2.0


class StandInHostGone(Exception):
    """The host process exited or stopped answering its orders."""


@dataclass
class StandInHost:
    """One `--host-pods` process and the pods it serves; orders go one at a time (a JSON line each)."""

    process: asyncio.subprocess.Process
    pods: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    async def start(cls) -> "StandInHost":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "localcloud.inference_standin", "--host-pods",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        host = cls(process)
        try:
            await host._answer()
        except StandInHostGone:
            await _terminate(process)
            raise
        log.info("stand-in host pid %d started", process.pid)
        return host

    @property
    def pid(self) -> int:
        return self.process.pid

    async def order(self, **order: Any) -> dict[str, Any]:
        async with self.lock:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(json.dumps(order).encode() + b"\n")
                await self.process.stdin.drain()
            except (ConnectionError, RuntimeError) as err:
                raise StandInHostGone(f"stand-in host pid {self.pid}: {err}") from None
            return await self._answer()

    async def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            raise StandInHostGone(f"stand-in host pid {self.pid} did not answer") from None
        if not line:
            raise StandInHostGone(f"stand-in host pid {self.pid} exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                self.process.stdin.close()  # its order loop ends and it stops serving
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 5)
        await _terminate(self.process)


@dataclass
class StandIn:
    pod: str
    ip: str
    host: StandInHost
    address: Address
    readiness: asyncio.Task[None] | None = None
    ready: bool = False
    ready_at: float | None = None  # epoch seconds the pod was marked Ready (benchmarks read it)


def served_model_name(pod: dict[str, Any]) -> str:
    """The name vLLM would serve under: from `--served-model-name`, else KAITO's model annotation."""
    for container in pod.get("spec", {}).get("containers", []):
        for arg in [*(container.get("command") or []), *(container.get("args") or [])]:
            if str(arg).startswith("--served-model-name="):
                return str(arg).split("=", 1)[1]
    annotations = pod.get("metadata", {}).get("annotations") or {}
    return str(annotations.get("kaito.sh/model", "model"))


def adapter_names(pod: dict[str, Any]) -> list[str]:
    """The LoRA adapters the pod serves beside its model (the workload's `kaito.sh/adapters` annotation)."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    return [name for name in str(annotations.get("kaito.sh/adapters", "")).split(",") if name]


def running_ip(pod: dict[str, Any]) -> str | None:
    status = pod.get("status") or {}
    if pod.get("metadata", {}).get("deletionTimestamp") or status.get("phase") != "Running":
        return None
    ip = status.get("podIP")
    return str(ip) if ip else None


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def readiness_patch(pod: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What a kubelet writes when every container's readiness probe passes: Ready and ContainersReady
    True (conditions merge by type) and each container ready (that list does not merge, so all of it)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {
        "status": {
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": stamp}
                for kind in ("ContainersReady", "Ready")
            ],
            "containerStatuses": [{**s, "ready": True} for s in statuses],
        }
    }


class StandInManager:
    def __init__(self, api: ApiClient, network: PodNetwork, pods_per_process: int = PODS_PER_PROCESS) -> None:
        if pods_per_process < 1:
            raise ValueError(f"pods_per_process must be at least 1, not {pods_per_process}")
        self._api = api
        self._core = CoreV1Api(api)
        self._network = network
        self._pods_per_process = pods_per_process
        self._running: dict[str, StandIn] = {}
        self._hosts: list[StandInHost] = []
        self._stop = threading.Event()
        self._session: aiohttp.ClientSession | None = None

    @property
    def running(self) -> dict[str, StandIn]:
        return dict(self._running)

    @property
    def host_pids(self) -> list[int]:
        return [host.pid for host in self._hosts]

    async def run(self) -> None:
        self._stop.clear()
        async for kind, pod in watch_objects(
            self._api, self._core.list_pod_for_all_namespaces, self._stop, label_selector=LABEL_WORKSPACE
        ):
            key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            ip = None if kind == "DELETED" else running_ip(pod)
            current = self._running.get(key)
            if current and current.ip != ip:
                await self._retire(key)
            if ip and key not in self._running:
                await self._launch(key, ip, pod)

    async def _host(self) -> StandInHost:
        """A live host with room, else a new one: ceil(pods / pods_per_process) processes at most."""
        self._hosts = [h for h in self._hosts if h.process.returncode is None]
        for host in self._hosts:
            if len(host.pods) < self._pods_per_process:
                return host
        host = await StandInHost.start()
        self._hosts.append(host)
        return host

    async def _launch(self, key: str, ip: str, pod: dict[str, Any]) -> None:
        try:
            host = await self._host()
            answer = await host.order(
                op="add", pod=key, model=served_model_name(pod), adapters=adapter_names(pod)
            )
        except StandInHostGone as err:
            log.error("the stand-in for %s did not start: %s", key, err)
            return
        if "port" not in answer:
            log.error("the stand-in for %s did not start: %s", key, answer.get("error"))
            return
        host.pods.add(key)
        address = ("127.0.0.1", int(answer["port"]))
        standin = StandIn(pod=key, ip=ip, host=host, address=address, ready=is_ready(pod))
        self._running[key] = standin
        self._network.add_route((ip, INFERENCE_PORT), address)
        if not standin.ready:
            standin.readiness = asyncio.create_task(self._probe_until_ready(standin, pod))
        log.info("pod %s (%s) served by stand-in host pid %d at %s:%d", key, ip, host.pid, *address)

    async def _probe_until_ready(self, standin: StandIn, pod: dict[str, Any]) -> None:
        """The readiness probe: GET /health on the pod's route until it answers 200, then mark it Ready."""
        if self._session is None:
            self._session = aiohttp.ClientSession(  # a probe per connection, as the kubelet's
                connector=aiohttp.TCPConnector(force_close=True),
                timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT),
            )
        url = "http://{}:{}/health".format(*standin.address)
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self._session.get(url) as response:
                    if response.status == 200:
                        break
            await asyncio.sleep(PROBE_PERIOD)  # a probe's period, not a wait for another part
        namespace, name = standin.pod.split("/", 1)
        body = readiness_patch(pod, datetime.now(UTC))
        while True:
            try:
                await asyncio.to_thread(self._core.patch_namespaced_pod_status, name, namespace, body)
                break
            except ApiException as err:
                if err.status == 404:
                    return  # the pod is gone; its DELETED event retires the stand-in
                log.warning("marking %s Ready failed (%s); retrying", standin.pod, err.reason)
                await asyncio.sleep(1)
        standin.ready, standin.ready_at = True, time.time()
        log.info("pod %s Ready: its stand-in answers /health", standin.pod)

    async def _retire(self, key: str) -> None:
        standin = self._running.pop(key)
        if standin.readiness is not None:
            standin.readiness.cancel()
            await asyncio.gather(standin.readiness, return_exceptions=True)
        self._network.remove_route((standin.ip, INFERENCE_PORT), standin.address)
        standin.host.pods.discard(key)
        with contextlib.suppress(StandInHostGone):
            await standin.host.order(op="remove", pod=key)
        log.info("pod %s gone; its stand-in removed from host pid %d", key, standin.host.pid)

    async def stop(self) -> None:
        self._stop.set()
        for key in list(self._running):
            await self._retire(key)
        for host in self._hosts:
            await host.stop()
        self._hosts.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _terminate(process: asyncio.subprocess.Process, grace: float = 5) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
