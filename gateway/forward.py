"""Forwarding a held request to the model once its workspace is Ready, through the apiserver's service
proxy: the same way the worker's health check reaches the model, here and on AKS, so the gateway needs
no route into the pod network and its service account only `services/proxy`.

The answer is read whole before it is returned (no streaming of server-sent events through the gateway);
only the first request of a wake takes this path: once the Service routes to the model again, callers
reach the model directly.
"""

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import config as kube_config
from kubernetes.client import ApiClient

from gateway.requests import Target
from workflows.naming import SERVICE_PORT

# What is passed on to the model; hop-by-hop headers, the caller's Host and our own X-Kaito-* stay here.
PASSED_HEADERS = ("Content-Type", "Accept")
CLIENT_MAX_AGE_SECONDS = 300.0  # a kubeconfig's token file is renewed: build the client afresh this often


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str


@dataclass
class Forwarder:
    """Sends requests to a Service through the apiserver's proxy with the gateway's own credentials."""

    kubeconfig: str | None = field(default_factory=lambda: os.environ.get("KUBECONFIG"))
    timeout: float = 600.0
    _client: ApiClient | None = None
    _built = 0.0

    def api(self) -> ApiClient:
        if self._client is None or time.monotonic() - self._built > CLIENT_MAX_AGE_SECONDS:
            if self.kubeconfig:
                self._client = kube_config.new_client_from_config(config_file=self.kubeconfig)
            else:
                kube_config.load_incluster_config()  # type: ignore[no-untyped-call,unused-ignore]
                self._client = ApiClient()
            self._built = time.monotonic()
        return self._client

    async def forward(
        self, target: Target, method: str, path_qs: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        return await asyncio.to_thread(self._forward, target, method, path_qs, headers, body)

    def _forward(
        self, target: Target, method: str, path_qs: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        api = self.api()
        passed = {k: v for k, v in headers.items() if k.title() in PASSED_HEADERS}
        resource = f"/api/v1/namespaces/{target.namespace}/services/{target.service}:{SERVICE_PORT}/proxy"
        url = f"{api.configuration.host}{resource}{path_qs if path_qs.startswith('/') else '/' + path_qs}"
        auth: dict[str, Any] = {}
        api.update_params_for_auth(auth, [], ["BearerToken"], resource, method, None)
        # The urllib3 pool itself: `call_api` would JSON-encode a JSON body that is bytes already.
        response = api.rest_client.pool_manager.request(
            method, url, body=body or None, headers={**passed, **auth}, timeout=self.timeout
        )
        content_type = str(response.headers.get("Content-Type") or "application/octet-stream")
        return Answer(
            status=int(response.status), body=bytes(response.data or b""), content_type=content_type
        )
