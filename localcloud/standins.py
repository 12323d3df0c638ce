"""One inference stand-in process per inference pod that kwok runs, routed by the pod network.

A pod counts once kwok reports it Running with a pod IP; the stand-in is started (a real process, its
PID tracked), and `podIP:5000` is routed to it, so the apiserver's service proxy reaches it exactly as
it would reach vLLM in the pod. When the pod goes, the process is stopped by PID and the route removed.
"""

import asyncio
import contextlib
import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api

from localcloud.kube_watch import watch_objects
from localcloud.pod_network import PodNetwork
from workflows.naming import INFERENCE_PORT, LABEL_WORKSPACE

log = logging.getLogger("kaito.standins")
START_TIMEOUT = 30.0


@dataclass
class StandIn:
    pod: str
    ip: str
    process: asyncio.subprocess.Process
    address: tuple[str, int]


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


class StandInManager:
    def __init__(self, api: ApiClient, network: PodNetwork) -> None:
        self._api = api
        self._core = CoreV1Api(api)
        self._network = network
        self._running: dict[str, StandIn] = {}
        self._stop = threading.Event()

    @property
    def running(self) -> dict[str, StandIn]:
        return dict(self._running)

    async def run(self) -> None:
        async for kind, pod in watch_objects(
            self._api, self._core.list_pod_for_all_namespaces, self._stop, label_selector=LABEL_WORKSPACE
        ):
            key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            ip = None if kind == "DELETED" else running_ip(pod)
            current = self._running.get(key)
            if current and current.ip != ip:
                await self._retire(key)
            if ip and key not in self._running:
                await self._launch(key, ip, served_model_name(pod), adapter_names(pod))

    async def _launch(self, key: str, ip: str, model: str, adapters: list[str]) -> None:
        adapter_args = ["--adapters", ",".join(adapters)] if adapters else []
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "localcloud.inference_standin",
            "--model",
            model,
            "--pod",
            key,
            "--port",
            "0",
            *adapter_args,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            line = (await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)).decode().strip()
            host, _, port = line.removeprefix("listening ").rpartition(":")
            address = (host, int(port))
        except (TimeoutError, ValueError):
            await _terminate(process)
            log.error("the stand-in for %s did not start", key)
            return
        self._running[key] = StandIn(pod=key, ip=ip, process=process, address=address)
        self._network.add_route((ip, INFERENCE_PORT), address)
        log.info("pod %s (%s) served by stand-in pid %d at %s:%d", key, ip, process.pid, *address)

    async def _retire(self, key: str) -> None:
        standin = self._running.pop(key)
        self._network.remove_route((standin.ip, INFERENCE_PORT), standin.address)
        await _terminate(standin.process)
        log.info("pod %s gone; stand-in pid %d stopped", key, standin.process.pid)

    async def stop(self) -> None:
        self._stop.set()
        for key in list(self._running):
            await self._retire(key)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 5)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
