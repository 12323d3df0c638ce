"""The health check: GET /health, then one real chat completion, through the Service.

It goes through the apiserver's service proxy, which reaches the Service the same way on AKS and on
the local cloud, so the worker needs no network route into the cluster.
"""

import asyncio
import json
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.contracts import ActivityName, HealthReport, ProvisioningPlan
from workflows.naming import SERVICE_PORT

PROMPT = "In one sentence, what are you?"


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
) -> Any:
    """One HTTP request to a Service through the apiserver's proxy; JSON answers are decoded."""
    resource = f"/api/v1/namespaces/{namespace}/services/{service}:{SERVICE_PORT}/proxy/{path.lstrip('/')}"
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


class HealthActivities:
    def __init__(self, api: ApiClient) -> None:
        self._api = api

    @activity.defn(name=ActivityName.CHECK_HEALTH)
    async def check_inference_health(self, plan: ProvisioningPlan) -> HealthReport:
        try:
            await asyncio.to_thread(service_proxy, self._api, plan.namespace, plan.name, "GET", "health")
            reply = await asyncio.to_thread(
                service_proxy, self._api, plan.namespace, plan.name, "POST", "v1/chat/completions",
                chat_request(plan.served_model_name, PROMPT),
            )  # fmt: skip
            model, text = answer_of(reply)
        except (ServiceUnreachable, ApiException, ValueError, OSError) as err:
            raise ApplicationError(
                f"{plan.name} did not answer through its Service: {err}", type="InferenceUnhealthy"
            ) from None
        return HealthReport(model=model or plan.served_model_name, answer=text)
