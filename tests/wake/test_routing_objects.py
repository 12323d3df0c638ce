"""The objects that route a suspended Service to the wake gateway: which pods count, and the Endpoints
and EndpointSlice the apiserver's proxy and kube-proxy read."""

from types import SimpleNamespace
from typing import Any

from activities.service_routing import gateway_endpoints, gateway_pods, gateway_slice, slice_name
from gateway.endpoints import running


def pod(name: str, ip: str | None, phase: str = "Running", deleting: bool = False) -> Any:
    meta = SimpleNamespace(name=name, deletion_timestamp="2026-01-01T00:00:00Z" if deleting else None)
    return SimpleNamespace(metadata=meta, status=SimpleNamespace(phase=phase, pod_ip=ip))


def test_only_running_gateway_pods_with_an_ip_count() -> None:
    pods = [pod("b", "10.0.0.2"), pod("a", "10.0.0.1"), pod("c", None), pod("d", "10.0.0.4", "Pending"),
            pod("e", "10.0.0.5", deleting=True)]  # fmt: skip
    assert gateway_pods(pods) == running(pods) == [("a", "10.0.0.1"), ("b", "10.0.0.2")]


def test_the_endpoints_name_the_gateway_pods_under_the_services_port_name_and_are_owned_by_it() -> None:
    service = SimpleNamespace(metadata=SimpleNamespace(name="phi", uid="u-1"))
    pods = [("gw-a", "10.0.0.1"), ("gw-b", "10.0.0.2")]
    endpoints = gateway_endpoints("team-a", service, "kaito-system", pods)
    endpoint_slice = gateway_slice("team-a", service, "kaito-system", pods)
    for body in (endpoints, endpoint_slice):
        meta = body["metadata"]
        assert meta["namespace"] == "team-a"
        assert meta["ownerReferences"] == [
            {"apiVersion": "v1", "kind": "Service", "name": "phi", "uid": "u-1"}
        ]
        assert meta["labels"]["kubernetes.io/service-name"] == "phi"
        assert meta["labels"]["endpointslice.kubernetes.io/managed-by"] == "wake-gateway.kaito.sh"
    assert endpoints["metadata"]["name"] == "phi" and endpoint_slice["metadata"]["name"] == slice_name("phi")
    (subset,) = endpoints["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.1", "10.0.0.2"]
    assert subset["addresses"][0]["targetRef"] == {"kind": "Pod", "namespace": "kaito-system", "name": "gw-a"}
    assert subset["ports"] == endpoint_slice["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [e["addresses"] for e in endpoint_slice["endpoints"]] == [["10.0.0.1"], ["10.0.0.2"]]
