"""The wake gateway in the local cloud, as its in-cluster pod would run: the bootstrap's Deployment gets a
pod from kwok (an IP no machine owns) on the cluster's system node, and the pod network routes
`podIP:8080` to one supervised gateway process (`python -m gateway`) on a loopback port. A suspended
workspace's endpoints name that pod IP, so whoever follows them (the gateway's Service through the
apiserver's proxy, here) reaches the process.
"""

import asyncio
import logging
import threading
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from localcloud.controlplane import KWOK_NODE_ANNOTATION
from localcloud.kube_watch import watch_objects
from localcloud.pod_network import Address, PodNetwork
from localcloud.standins import running_ip
from workflows.workspace_contracts import WAKE_GATEWAY_APP, WAKE_GATEWAY_PORT

log = logging.getLogger("kaito.localcloud")
ADDRESS_VARIABLE = "KAITO_WAKE_GATEWAY_ADDRESS"
SYSTEM_NODE = "aks-nodepool1-00000000-vmss000000"


def system_node() -> dict[str, Any]:
    """The node of the cluster's System pool (no GPU), where AKS runs our Deployments' pods."""
    capacity = {"cpu": "4", "memory": "16Gi", "pods": "110"}
    labels = {
        "kubernetes.azure.com/agentpool": "nodepool1",
        "agentpool": "nodepool1",
        "kubernetes.azure.com/mode": "system",
        "kubernetes.io/hostname": SYSTEM_NODE,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
    }
    annotations = dict([KWOK_NODE_ANNOTATION])
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": SYSTEM_NODE, "labels": labels, "annotations": annotations},
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


async def register_system_node(api: ApiClient) -> None:
    """Register the system node once (kwok then runs it); one that exists already is kept."""
    try:
        body: Any = system_node()
        await asyncio.to_thread(CoreV1Api(api).create_node, body)
    except ApiException as err:
        if err.status != 409:
            raise


def gateway_env(base: dict[str, str], kubeconfig: str, address: Address, namespace: str) -> dict[str, str]:
    """The gateway process's: Temporal from `base`, its service account's kubeconfig, its listen address,
    its namespace (a pod reads it from its service account) and a quick endpoints refresh."""
    return {
        **base,
        "KUBECONFIG": kubeconfig,
        ADDRESS_VARIABLE: f"{address[0]}:{address[1]}",
        "KAITO_WAKE_GATEWAY_NAMESPACE": namespace,
        "KAITO_WAKE_GATEWAY_REFRESH_SECONDS": "2",
    }


class GatewayPodRoutes:
    """Routes every running gateway pod's `IP:8080` to the gateway process, and forgets a pod that goes."""

    def __init__(self, api: ApiClient, network: PodNetwork, target: Address) -> None:
        self._api = api
        self._core = CoreV1Api(api)
        self._network = network
        self._target = target
        self._routed: dict[str, str] = {}  # pod key -> IP
        self._stop = threading.Event()

    async def run(self) -> None:
        async for kind, pod in watch_objects(
            self._api,
            self._core.list_pod_for_all_namespaces,
            self._stop,
            label_selector=f"app.kubernetes.io/name={WAKE_GATEWAY_APP}",
        ):
            key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            ip = None if kind == "DELETED" else running_ip(pod)
            known = self._routed.get(key)
            if known and known != ip:
                self._network.remove_route((known, WAKE_GATEWAY_PORT), self._target)
                del self._routed[key]
            if ip and key not in self._routed:
                self._network.add_route((ip, WAKE_GATEWAY_PORT), self._target)
                self._routed[key] = ip
                log.info("gateway pod %s (%s) routed to %s:%d", key, ip, *self._target)

    def stop(self) -> None:
        self._stop.set()
