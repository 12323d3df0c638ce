"""The health check: GET /health, then one real chat completion, through the Service.

It goes through the apiserver's service proxy, which reaches the Service the same way on AKS and on
the local cloud, so the worker needs no network route into the cluster.
"""

import asyncio

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from temporalio import activity
from temporalio.exceptions import ApplicationError

from connections.service_proxy import ServiceUnreachable, answer_of, chat_request, service_proxy
from workflows.naming import SERVICE_PORT
from workflows.workspace_contracts import ActivityName, HealthReport, ProvisioningPlan

PROMPT = "In one sentence, what are you?"


class HealthActivities:
    def __init__(self, api: ApiClient) -> None:
        self._api = api

    @activity.defn(name=ActivityName.CHECK_HEALTH)
    async def check_inference_health(self, plan: ProvisioningPlan) -> HealthReport:
        try:
            await asyncio.to_thread(
                service_proxy, self._api, plan.namespace, plan.name, "GET", "health", port=SERVICE_PORT
            )
            reply = await asyncio.to_thread(
                service_proxy, self._api, plan.namespace, plan.name, "POST", "v1/chat/completions",
                chat_request(plan.served_model_name, PROMPT), port=SERVICE_PORT,
            )  # fmt: skip
            model, text = answer_of(reply)
        except (ServiceUnreachable, ApiException, ValueError, OSError) as err:
            raise ApplicationError(
                f"{plan.name} did not answer through its Service: {err}", type="InferenceUnhealthy"
            ) from None
        return HealthReport(model=model or plan.served_model_name, answer=text)
