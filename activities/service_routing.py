"""Where a workspace's Service sends its requests: to the model's pods, or, while it is suspended, to the
wake gateway.

The gateway is one Deployment in the system namespace, and a Service cannot select pods of another
namespace, so while suspended the Service loses its selector and we write its endpoints ourselves: an
EndpointSlice (kube-proxy's source: what in-cluster clients reach) and an Endpoints object (the apiserver's
service proxy reads Endpoints), both listing the gateway pods' IPs at the gateway's port and owned by the
Service, so deleting the workspace leaves none behind. The resume applies the Service with its selector
again and deletes both; the endpoints controllers then list the model's pods as before.

The apiserver's service proxy only forwards to an address whose targetRef is a Pod in the Service's own
namespace (kube-apiserver `ResourceLocation`, v1.36), so through the proxy a routed Service answers
"no endpoints available"; in-cluster clients (kube-proxy, DNS) reach the gateway, and the gateway's own
Service reaches it through the proxy, the workspace named by the Host header an in-cluster client sends.
"""

import asyncio
from functools import partial
from typing import Any, cast

from kubernetes.client import ApiClient, CoreV1Api, DiscoveryV1Api
from temporalio import activity

from activities import kube_api
from activities import workspace_objects as manifests
from activities.kube_objects import FIELD_MANAGER
from workflows.workspace_contracts import (
    WAKE_GATEWAY_APP,
    WAKE_GATEWAY_MANAGED_BY,
    WAKE_GATEWAY_PORT,
    ActivityName,
    GatewayRoute,
    ProvisioningPlan,
)

DEFAULT_GATEWAY_NAMESPACE = "kaito-system"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"  # our slice exists: no mirrored copy
ENDPOINTS_WAIT = 10.0  # seconds the route back waits for the endpoints controller to list the model
PORT_NAME = "http"  # the workspace Service's port name (activities.workspace_objects.service)


def slice_name(service: str) -> str:
    return f"{service}-wake-gateway"


def gateway_pods(pods: list[Any]) -> list[tuple[str, str]]:
    """(name, IP) of every gateway pod that runs, has an IP and is not being deleted, sorted by name."""
    found = []
    for pod in pods:
        meta, status = pod.metadata, pod.status
        if meta.deletion_timestamp or not status or status.phase != "Running" or not status.pod_ip:
            continue
        found.append((str(meta.name), str(status.pod_ip)))
    return sorted(found)


def _owner(service: Any) -> list[dict[str, Any]]:
    meta = service.metadata
    return [{"apiVersion": "v1", "kind": "Service", "name": meta.name, "uid": meta.uid}]


def _labels(service: str) -> dict[str, str]:
    return {SERVICE_NAME_LABEL: service, MANAGED_BY_LABEL: WAKE_GATEWAY_MANAGED_BY, SKIP_MIRROR_LABEL: "true"}


def gateway_endpoints(
    namespace: str, service: Any, gateway_namespace: str, pods: list[tuple[str, str]]
) -> dict[str, Any]:
    """The Service's Endpoints: the gateway pods' IPs at the gateway port, under the Service's port name."""
    name = str(service.metadata.name)
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": _labels(name),
            "ownerReferences": _owner(service),
        },
        "subsets": [
            {
                "addresses": [
                    {"ip": ip, "targetRef": {"kind": "Pod", "namespace": gateway_namespace, "name": pod}}
                    for pod, ip in pods
                ],
                "ports": [{"name": PORT_NAME, "port": WAKE_GATEWAY_PORT, "protocol": "TCP"}],
            }
        ],
    }


def gateway_slice(
    namespace: str, service: Any, gateway_namespace: str, pods: list[tuple[str, str]]
) -> dict[str, Any]:
    """Our EndpointSlice of the Service (its managed-by label ours, so the slice controllers leave it)."""
    name = str(service.metadata.name)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(name),
            "namespace": namespace,
            "labels": _labels(name),
            "ownerReferences": _owner(service),
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": True},
                "targetRef": {"kind": "Pod", "namespace": gateway_namespace, "name": pod},
            }
            for pod, ip in pods
        ],
        "ports": [{"name": PORT_NAME, "port": WAKE_GATEWAY_PORT, "protocol": "TCP"}],
    }


class ServiceRoutingActivities:
    def __init__(self, api: ApiClient, gateway_namespace: str = DEFAULT_GATEWAY_NAMESPACE) -> None:
        self._api = api
        self._core = CoreV1Api(api)
        self._discovery = DiscoveryV1Api(api)
        self._gateway_namespace = gateway_namespace

    @activity.defn(name=ActivityName.ROUTE_TO_GATEWAY)
    async def route_service_to_gateway(self, plan: ProvisioningPlan) -> GatewayRoute:
        """Selector off, endpoints = the gateway pods; with no gateway pod running, nothing changes."""
        doing = f"route Service {plan.namespace}/{plan.name} to the wake gateway"
        listed = await kube_api.call(
            f"{doing}: list the gateway pods",
            partial(
                self._core.list_namespaced_pod,
                self._gateway_namespace,
                label_selector=f"app.kubernetes.io/name={WAKE_GATEWAY_APP}",
            ),
        )
        pods = gateway_pods(listed.items)
        if not pods:
            return GatewayRoute(
                to_gateway=False, detail=f"no wake gateway pod runs in {self._gateway_namespace}: unrouted"
            )
        service = await kube_api.call(
            f"{doing}: read the Service",
            partial(self._core.read_namespaced_service, plan.name, plan.namespace),
        )
        ns = plan.namespace
        # The selector goes first: from then on no endpoints controller writes this Service's endpoints.
        dynamic = await kube_api.dynamic_client(self._api, doing)
        routed = plan.model_copy(update={"routed_to_gateway": True})
        await kube_api.apply(dynamic, manifests.service(routed), field_manager=FIELD_MANAGER, doing=doing)
        endpoints = gateway_endpoints(ns, service, self._gateway_namespace, pods)
        await kube_api.call_if_present(
            f"{doing}: replace the Endpoints", partial(self._core.delete_namespaced_endpoints, plan.name, ns)
        )
        await kube_api.call(
            f"{doing}: write the Endpoints",
            partial(self._core.create_namespaced_endpoints, ns, cast(Any, endpoints)),
        )
        await kube_api.call_if_present(
            f"{doing}: replace our EndpointSlice",
            partial(self._discovery.delete_namespaced_endpoint_slice, slice_name(plan.name), ns),
        )
        endpoint_slice = gateway_slice(ns, service, self._gateway_namespace, pods)
        await kube_api.call(
            f"{doing}: write the EndpointSlice",
            partial(self._discovery.create_namespaced_endpoint_slice, ns, cast(Any, endpoint_slice)),
        )
        return GatewayRoute(
            to_gateway=True, addresses=[ip for _, ip in pods], detail=f"{len(pods)} gateway pod(s)"
        )

    @activity.defn(name=ActivityName.ROUTE_TO_MODEL)
    async def route_service_to_model(self, plan: ProvisioningPlan) -> GatewayRoute:
        """Our endpoints go and the selector comes back: the endpoints controllers list the model's pods."""
        doing = f"route Service {plan.namespace}/{plan.name} to the model"
        ns = plan.namespace
        await kube_api.call_if_present(
            f"{doing}: delete our EndpointSlice",
            partial(self._discovery.delete_namespaced_endpoint_slice, slice_name(plan.name), ns),
        )
        await kube_api.call_if_present(
            f"{doing}: delete the gateway's Endpoints",
            partial(self._core.delete_namespaced_endpoints, plan.name, ns),
        )
        dynamic = await kube_api.dynamic_client(self._api, doing)
        serving = plan.model_copy(update={"routed_to_gateway": False})
        await kube_api.apply(dynamic, manifests.service(serving), field_manager=FIELD_MANAGER, doing=doing)
        listed = await self._until_endpoints(plan, doing)
        return GatewayRoute(to_gateway=False, addresses=listed, detail="selector restored")

    async def _until_endpoints(self, plan: ProvisioningPlan, doing: str) -> list[str]:
        """The model's addresses once the endpoints controller lists them (a moment after the selector is
        back), so the health check that follows does not meet an empty Service; after ENDPOINTS_WAIT
        seconds, none: the health check retries on its own."""
        read = partial(self._core.read_namespaced_endpoints, plan.name, plan.namespace)
        deadline = asyncio.get_running_loop().time() + ENDPOINTS_WAIT
        while True:
            endpoints = await kube_api.call_if_present(f"{doing}: read the Endpoints", read)
            subsets = (endpoints.subsets if endpoints else None) or []
            listed = [str(a.ip) for subset in subsets for a in subset.addresses or []]
            if listed or asyncio.get_running_loop().time() > deadline:
                return listed
            await asyncio.sleep(0.2)
