"""The health check: GET /health, then one real chat completion, through the Service.

It goes through the apiserver's service proxy, which reaches the Service the same way on AKS and on
the local cloud, so the worker needs no network route into the cluster. An HTTP error through the proxy
(no ready endpoint yet, vLLM still loading) or a reply that is not a chat completion is
`InferenceUnhealthy`, retried; the apiserver not answering is sorted by `activities.kube_api`.
"""

from functools import partial

from kubernetes.client import ApiClient
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import kube_api
from connections.service_proxy import ServiceUnreachable, answer_of, chat_request, service_proxy
from workflows.naming import SERVICE_PORT
from workflows.workspace_contracts import ActivityName, HealthReport, ProvisioningPlan

PROMPT = "In one sentence, what are you?"


class HealthActivities:
    def __init__(self, api: ApiClient) -> None:
        self._api = api

    @activity.defn(name=ActivityName.CHECK_HEALTH)
    async def check_inference_health(self, plan: ProvisioningPlan) -> HealthReport:
        proxy = partial(service_proxy, self._api, plan.namespace, plan.name, port=SERVICE_PORT)
        request = chat_request(plan.served_model_name, PROMPT)
        try:
            await kube_api.call(f"GET /health of {plan.name}", partial(proxy, "GET", "health"))
            reply = await kube_api.call(
                f"ask {plan.name} for a chat completion",
                partial(proxy, "POST", "v1/chat/completions", request),
            )
            model, text = answer_of(reply)
        except (ServiceUnreachable, ValueError) as err:
            raise ApplicationError(
                f"{plan.name} did not answer through its Service: {err}", type="InferenceUnhealthy"
            ) from None
        return HealthReport(model=model or plan.served_model_name, answer=text)
