"""Requests to a workspace as its callers make them, through the apiserver's service proxy.

In the cluster a caller reaches a suspended workspace by its Service's name; the Service's endpoints are
the gateway pods. The apiserver's proxy refuses endpoints in another namespace (see
`activities.service_routing`), so from outside the cluster the caller goes through the gateway's own
Service and names the workspace as an in-cluster caller does, in the Host header.
"""

import json
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import config as kube_config
from kubernetes.client import ApiClient

from workflows.workspace_contracts import WAKE_GATEWAY_APP

GATEWAY_PROXY = f"/api/v1/namespaces/kaito-system/services/{WAKE_GATEWAY_APP}:80/proxy"
MODEL = "phi-3-mini-4k-instruct"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Caller:
    def __init__(self, kubeconfig: str) -> None:
        self.api: ApiClient = kube_config.new_client_from_config(config_file=kubeconfig)
        self.api.configuration.connection_pool_maxsize = 64

    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Reply:
        auth: dict[str, Any] = {}
        self.api.update_params_for_auth(auth, [], ["BearerToken"], path, method, None)
        began = time.monotonic()
        response = self.api.rest_client.pool_manager.request(
            method,
            f"{self.api.configuration.host}{path}",
            body=body,
            headers={**auth, **headers},
            timeout=300,
        )
        seconds = time.monotonic() - began
        return Reply(int(response.status), dict(response.headers), bytes(response.data or b""), seconds)

    def chat(self, name: str, *, via_gateway: bool = True, headers: dict[str, str] | None = None) -> Reply:
        """One chat completion to workspace `name` (namespace default): through the gateway's Service,
        or straight through the workspace's own Service (`via_gateway=False`)."""
        request = {"model": MODEL, "messages": [{"role": "user", "content": "hello?"}], "max_tokens": 8}
        sent = {"Content-Type": "application/json", **(headers or {})}
        if via_gateway:
            sent["Host"] = f"{name}.default.svc.cluster.local"
            path = f"{GATEWAY_PROXY}/v1/chat/completions"
        else:
            path = f"/api/v1/namespaces/default/services/{name}:80/proxy/v1/chat/completions"
        return self._send("POST", path, sent, json.dumps(request).encode())

    def gateway_stats(self) -> dict[str, int]:
        reply = self._send("GET", f"{GATEWAY_PROXY}/_wake-gateway/stats", {}, None)
        assert reply.status == 200, reply.text
        stats: dict[str, int] = reply.json()
        return stats
