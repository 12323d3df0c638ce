"""Keeping suspended Services pointed at the gateway pods that exist now.

The suspend's routing step (`route_service_to_gateway`, a worker activity) writes a workspace Service's
endpoints once, with the gateway pods' IPs of that moment. A gateway pod that is replaced (a rollout, a
lost node) comes back with another IP, so every gateway replica re-reads the running gateway pods every
`interval` seconds and rewrites the addresses of every EndpointSlice and Endpoints object that carries our
managed-by label and lists others. With no gateway pod running it changes nothing: an empty list would
not route anywhere either.
"""

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api, DiscoveryV1Api

from workflows.workspace_contracts import WAKE_GATEWAY_APP, WAKE_GATEWAY_MANAGED_BY

log = logging.getLogger("kaito.gateway")
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def own_namespace() -> str:
    """The gateway's namespace: KAITO_WAKE_GATEWAY_NAMESPACE, else the pod's service account's, else
    kaito-system (the bootstrap's default)."""
    if configured := os.environ.get("KAITO_WAKE_GATEWAY_NAMESPACE"):
        return configured
    try:
        with open(NAMESPACE_FILE) as namespace:
            return namespace.read().strip()
    except OSError:
        return "kaito-system"


def running(pods: list[Any]) -> list[tuple[str, str]]:
    """(name, IP) of the gateway pods that run, sorted: the addresses a routed Service should list."""
    return sorted(
        (str(p.metadata.name), str(p.status.pod_ip))
        for p in pods
        if not p.metadata.deletion_timestamp and p.status and p.status.phase == "Running" and p.status.pod_ip
    )


@dataclass
class EndpointsKeeper:
    client: Callable[[], ApiClient]  # the gateway's (rebuilt now and then, as its token is renewed)
    namespace: str
    interval: float = 30.0
    rewritten: int = 0

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as err:  # the apiserver away for a while: the next round tries again
                log.warning("could not refresh the routed endpoints: %s", err)
            await asyncio.sleep(self.interval)

    def refresh(self) -> int:
        """One round; returns how many objects it rewrote."""
        api = self.client()
        core, discovery = CoreV1Api(api), DiscoveryV1Api(api)
        selector = f"app.kubernetes.io/name={WAKE_GATEWAY_APP}"
        pods = running(core.list_namespaced_pod(self.namespace, label_selector=selector).items)
        if not pods:
            return 0
        ours = f"{MANAGED_BY_LABEL}={WAKE_GATEWAY_MANAGED_BY}"
        ips = [ip for _, ip in pods]
        count = 0
        slices: list[Any] = discovery.list_endpoint_slice_for_all_namespaces(label_selector=ours).items
        for endpoint_slice in slices:
            listed = sorted(a for e in endpoint_slice.endpoints or [] for a in e.addresses)
            if listed == ips:
                continue
            meta = endpoint_slice.metadata
            body = {"endpoints": [self._slice_endpoint(pod, ip) for pod, ip in pods]}
            discovery.patch_namespaced_endpoint_slice(meta.name, meta.namespace, body)
            service = (meta.labels or {}).get("kubernetes.io/service-name")
            if service:
                subsets = self._subsets(core.read_namespaced_endpoints(service, meta.namespace), pods)
                core.patch_namespaced_endpoints(service, meta.namespace, {"subsets": subsets})
            log.info("routed %s/%s to the gateway pods now running: %s", meta.namespace, service, ips)
            count += 1
        self.rewritten += count
        return count

    def _slice_endpoint(self, pod: str, ip: str) -> dict[str, Any]:
        ref = {"kind": "Pod", "namespace": self.namespace, "name": pod}
        return {"addresses": [ip], "conditions": {"ready": True}, "targetRef": ref}

    def _subsets(self, endpoints: Any, pods: list[tuple[str, str]]) -> list[dict[str, Any]]:
        ports = [
            {"name": p.name, "port": p.port, "protocol": p.protocol}
            for subset in endpoints.subsets or []
            for p in subset.ports or []
        ][:1]
        addresses = [
            {"ip": ip, "targetRef": {"kind": "Pod", "namespace": self.namespace, "name": pod}}
            for pod, ip in pods
        ]
        return [{"addresses": addresses, "ports": ports}]
