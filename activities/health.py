"""The health check: GET /health, then one real chat completion, through the Service.

It goes through the apiserver's service proxy, which reaches the Service the same way on AKS and on
the local cloud, so the worker needs no network route into the cluster.
"""

import asyncio
import json
from typing import Any, cast

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.contracts import ActivityName, HealthReport, ProvisioningPlan
from workflows.naming import SERVICE_PORT

PROMPT = "In one sentence, what are you?"


class HealthActivities:
    def __init__(self, api: ApiClient) -> None:
        self._api = api

    def _proxy(self, plan: ProvisioningPlan, method: str, path: str, body: Any = None) -> Any:
        url = f"/api/v1/namespaces/{plan.namespace}/services/{plan.name}:{SERVICE_PORT}/proxy/{path}"
        # call_api is the client's public escape hatch for paths it has no method for (a proxied POST).
        response = cast(Any, self._api).call_api(
            url,
            method,
            body=body,
            header_params={"Content-Type": "application/json", "Accept": "*/*"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=30,
        )[0]
        text = response.data.decode()
        return json.loads(text) if text.startswith(("{", "[")) else text

    @activity.defn(name=ActivityName.CHECK_HEALTH)
    async def check_inference_health(self, plan: ProvisioningPlan) -> HealthReport:
        try:
            await asyncio.to_thread(self._proxy, plan, "GET", "health")
            answer = await asyncio.to_thread(
                self._proxy,
                plan,
                "POST",
                "v1/chat/completions",
                {
                    "model": plan.served_model_name,
                    "messages": [{"role": "user", "content": PROMPT}],
                    "max_tokens": 64,
                },
            )
        except ApiException as err:
            raise ApplicationError(
                f"{plan.name} did not answer through its Service: HTTP {err.status} {err.reason}",
                type="InferenceUnhealthy",
            ) from None
        try:
            text = str(answer["choices"][0]["message"]["content"])
            model = str(answer.get("model", plan.served_model_name))
        except (KeyError, IndexError, TypeError):
            raise ApplicationError(
                f"{plan.name} answered, but not as an OpenAI chat completion: {str(answer)[:200]}",
                type="InferenceUnhealthy",
            ) from None
        return HealthReport(model=model, answer=text)
