"""Reaching an in-cluster Service through the apiserver's service proxy, and speaking OpenAI to it.

The proxy reaches a Service the same way on AKS and on the local cloud, so neither the worker's health
check nor `kaitoctl workspace chat` needs a network route into the cluster.
"""

import json
from typing import Any

from kubernetes.client import ApiClient


class ServiceUnreachable(Exception):
    """The Service did not answer, or answered with an HTTP error."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {detail[:200]}")


def service_proxy(
    api: ApiClient,
    namespace: str,
    service: str,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = 30,
    port: int = 80,
) -> Any:
    """One HTTP request to a Service through the apiserver's proxy; JSON answers are decoded."""
    resource = f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{path.lstrip('/')}"
    method, url, headers, payload, _ = api.param_serialize(
        method, resource, header_params={"Content-Type": "application/json", "Accept": "*/*"}, body=body,
        auth_settings=["BearerToken"],
    )  # fmt: skip
    response = api.call_api(method, url, header_params=headers, body=payload, _request_timeout=timeout)
    response.read()
    text = (response.data or b"").decode(errors="replace")
    if response.status >= 400:
        raise ServiceUnreachable(int(response.status), text)
    return json.loads(text) if text.startswith(("{", "[")) else text


def chat_request(model: str, prompt: str, max_tokens: int = 64) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}


def answer_of(reply: Any) -> tuple[str, str]:
    """(model, text) of an OpenAI chat completion; ValueError when the reply is not one."""
    try:
        return str(reply.get("model", "")), str(reply["choices"][0]["message"]["content"])
    except (AttributeError, KeyError, IndexError, TypeError):
        raise ValueError(f"not an OpenAI chat completion: {str(reply)[:200]}") from None
