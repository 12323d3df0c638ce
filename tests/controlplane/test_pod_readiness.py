"""An inference pod on a kwok node is Ready only once its stand-in answers, as a readiness probe allows.

kwok starts the pod (Running, a pod IP) but leaves Ready False; the stand-in manager serves it, probes
/health on its route and only then marks Ready — so a Service never lists a pod that cannot answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import aiohttp

from localcloud.pod_network import PodNetwork
from localcloud.standins import StandInManager
from tests.controlplane.nodes import aks_gpu_node, is_ready
from tests.waiting import wait_for, wait_for_async
from workflows.naming import INFERENCE_PORT, LABEL_WORKSPACE


def pod_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


async def test_a_pod_turns_ready_only_when_its_stand_in_answers(
    api_client: Any, core: Any, namespace: str
) -> None:
    node = f"aks-gpu-{uuid.uuid4().hex[:6]}"
    core.create_node(aks_gpu_node(node, workspace="phi", namespace=namespace))
    manager = StandInManager(api_client, network := PodNetwork())
    try:
        wait_for(lambda: is_ready(core.read_node(node)), f"{node} Ready", timeout=60)
        gpu = {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": "phi-0", "labels": {LABEL_WORKSPACE: "phi"},
                         "annotations": {"kaito.sh/model": "phi-3-mini"}},
            "spec": {"nodeName": node, "tolerations": [gpu],
                     "containers": [{"name": "model", "image": "vllm"}]},
        })  # fmt: skip
        running = wait_for(
            lambda: (p := core.read_namespaced_pod("phi-0", namespace)).status.pod_ip and p, "phi-0 Running",
            timeout=60,
        )  # fmt: skip
        assert running.status.phase == "Running" and not pod_ready(running), "kwok must not make it Ready"
        assert not running.status.container_statuses[0].ready
        # A pod no stand-in serves (no workspace label) is Ready at once, as before.
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": "plain-0"},
            "spec": {"nodeName": node, "tolerations": [gpu], "containers": [{"name": "c", "image": "b"}]},
        })  # fmt: skip
        wait_for(
            lambda: pod_ready(core.read_namespaced_pod("plain-0", namespace)), "plain-0 Ready", timeout=60
        )

        watching = asyncio.create_task(manager.run())

        def ready_pod() -> Any:
            pod = core.read_namespaced_pod("phi-0", namespace)
            return pod if pod_ready(pod) else None

        ready = await wait_for_async(lambda: asyncio.to_thread(ready_pod), "phi-0 Ready", timeout=60)
        assert ready.status.container_statuses[0].ready
        assert ready.status.container_statuses[0].image == "vllm", "what kwok wrote stays"
        host, port = network.routes()[(running.status.pod_ip, INFERENCE_PORT)]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{host}:{port}/v1/models") as reply,
        ):
            assert (await reply.json())["data"][0]["id"] == "phi-3-mini"
        standin = manager.running[f"{namespace}/phi-0"]
        assert standin.ready and standin.ready_at is not None
        pids = manager.host_pids
        assert len(pids) == 1
    finally:
        await manager.stop()
        with contextlib.suppress(NameError):
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
        with contextlib.suppress(Exception):
            core.delete_namespaced_pod("phi-0", namespace, grace_period_seconds=0)
        with contextlib.suppress(Exception):
            core.delete_namespaced_pod("plain-0", namespace, grace_period_seconds=0)
        core.delete_node(node)
