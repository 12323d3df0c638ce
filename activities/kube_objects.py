"""Kubernetes activities: apply the inference objects, read readiness, write the Workspace status.

The `kubernetes` client is synchronous, so each call runs in a thread and never blocks the worker's
event loop. Objects are server-side applied under one field manager, so a retry is a no-op.
"""

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, cast

from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import workspace_objects as manifests
from workflows.naming import LABEL_WORKSPACE, LABEL_WORKSPACE_NAMESPACE
from workflows.readiness import ready_gpu_nodes
from workflows.workspace_contracts import (
    ActivityName,
    InferenceObjects,
    InferenceScale,
    NodeReadiness,
    ProvisioningPlan,
    StatusUpdate,
    WorkloadReadiness,
)
from workflows.workspace_spec import API_GROUP, PLURAL, STORAGE_VERSION, Workspace

FIELD_MANAGER = "kaito-temporal"
T = TypeVar("T")


def _final(err: ApiException, doing: str) -> ApplicationError:
    """403/422 and friends are final; 409/429/5xx and timeouts retry."""
    status = int(err.status or 0)
    retry = status in (0, 409, 429) or status >= 500
    return ApplicationError(
        f"{doing}: HTTP {status} {err.reason}", type=f"Kubernetes{status}", non_retryable=not retry
    )


async def _call(doing: str, fn: Callable[[], T]) -> T:
    try:
        return await asyncio.to_thread(fn)
    except ApiException as err:
        raise _final(err, doing) from None


class KubeActivities:
    def __init__(self, api: ApiClient) -> None:
        self._api = api
        self._core = CoreV1Api(api)
        self._apps = AppsV1Api(api)
        self._custom = CustomObjectsApi(api)

    @activity.defn(name=ActivityName.COUNT_READY_NODES)
    async def count_ready_nodes(self, plan: ProvisioningPlan) -> NodeReadiness:
        selector = f"{LABEL_WORKSPACE}={plan.name},{LABEL_WORKSPACE_NAMESPACE}={plan.namespace}"
        nodes = await _call("list nodes", lambda: self._core.list_node(label_selector=selector))
        ready = ready_gpu_nodes(self._api.sanitize_for_serialization(nodes)["items"], plan.instance_type)
        return NodeReadiness(ready=len(ready), nodes=ready)

    @activity.defn(name=ActivityName.ENSURE_INFERENCE)
    async def ensure_inference(self, plan: ProvisioningPlan) -> InferenceObjects:
        dynamic = DynamicClient(self._api)

        def apply(body: dict[str, Any]) -> None:
            resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
            resource.server_side_apply(
                body=body, namespace=plan.namespace, field_manager=FIELD_MANAGER, force_conflicts=True
            )

        for body in (manifests.headless_service(plan), manifests.service(plan), manifests.workload(plan)):
            await _call(f"apply {body['kind']} {body['metadata']['name']}", partial(apply, body))
        return InferenceObjects(
            service=plan.name, workload=plan.name, endpoint=manifests.service_endpoint(plan)
        )

    @activity.defn(name=ActivityName.COUNT_READY_REPLICAS)
    async def count_ready_replicas(self, plan: ProvisioningPlan) -> WorkloadReadiness:
        try:
            sts = await asyncio.to_thread(self._apps.read_namespaced_stateful_set, plan.name, plan.namespace)
        except ApiException as err:
            if err.status == 404:
                return WorkloadReadiness(ready_replicas=0, replicas=0)
            raise _final(err, "read the inference StatefulSet") from None
        status = sts.status
        if status is None:
            return WorkloadReadiness(ready_replicas=0, replicas=0)
        return WorkloadReadiness(
            ready_replicas=int(status.ready_replicas or 0), replicas=int(status.replicas or 0)
        )

    @activity.defn(name=ActivityName.SCALE_INFERENCE)
    async def scale_inference(self, scale: InferenceScale) -> None:
        """Set the workload's replicas through the scale subresource (0 on suspend); gone is fine."""
        plan = scale.plan
        try:
            await asyncio.to_thread(
                self._apps.patch_namespaced_stateful_set_scale,
                plan.name, plan.namespace, {"spec": {"replicas": scale.replicas}},
            )  # fmt: skip
        except ApiException as err:
            if err.status != 404:
                raise _final(err, f"scale the workload to {scale.replicas}") from None

    @activity.defn(name=ActivityName.DELETE_INFERENCE)
    async def delete_inference(self, plan: ProvisioningPlan) -> None:
        deletions: list[tuple[str, Callable[[], Any]]] = [
            (
                "StatefulSet",
                lambda: self._apps.delete_namespaced_stateful_set(
                    plan.name, plan.namespace, propagation_policy="Foreground"
                ),
            ),
            ("Service", lambda: self._core.delete_namespaced_service(plan.name, plan.namespace)),
            (
                "headless Service",
                lambda: self._core.delete_namespaced_service(
                    manifests.headless_service(plan)["metadata"]["name"], plan.namespace
                ),
            ),
        ]
        for what, delete in deletions:
            try:
                await asyncio.to_thread(delete)
            except ApiException as err:
                if err.status != 404:
                    raise _final(err, f"delete the {what}") from None

    @activity.defn(name=ActivityName.ENSURE_OBJECT)
    async def ensure_workspace_object(self, ws: Workspace) -> str:
        """The Workspace's uid, creating the object first when the workflow was started without one."""
        group_version = ws.api_version.split("/", 1)[1]
        try:
            found = await asyncio.to_thread(
                self._custom.get_namespaced_custom_object,
                API_GROUP,
                group_version,
                ws.namespace,
                PLURAL,
                ws.name,
            )
        except ApiException as err:
            if err.status != 404:
                raise _final(err, "read the Workspace") from None
            body = ws.model_dump(mode="json", exclude_none=True, exclude={"status"})
            body["metadata"] = {
                key: value
                for key, value in body["metadata"].items()
                if key in ("name", "namespace", "labels", "annotations")
            }
            body["metadata"]["namespace"] = ws.namespace
            found = await _call(
                "create the Workspace",
                lambda: self._custom.create_namespaced_custom_object(
                    API_GROUP, group_version, ws.namespace, PLURAL, body, field_manager=FIELD_MANAGER
                ),
            )
        return str(cast(dict[str, Any], found)["metadata"]["uid"])

    @activity.defn(name=ActivityName.DELETE_OBJECT)
    async def delete_workspace_object(self, ws: Workspace) -> None:
        """Remove the Workspace once its resources are gone; the controller's finalizer then lets go."""
        try:
            await asyncio.to_thread(
                self._custom.delete_namespaced_custom_object,
                API_GROUP,
                STORAGE_VERSION,
                ws.namespace,
                PLURAL,
                ws.name,
            )
        except ApiException as err:
            if err.status != 404:
                raise _final(err, "delete the Workspace") from None

    @activity.defn(name=ActivityName.WRITE_STATUS)
    async def write_workspace_status(self, update: StatusUpdate) -> None:
        """Patch the status subresource; a Workspace that does not exist (yet, or any more) is skipped."""
        body = {
            "status": {
                "state": update.state,
                "conditions": [
                    c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in update.conditions
                ],
                "workerNodes": update.worker_nodes,
                **(
                    {"targetNodeCount": update.target_node_count}
                    if update.target_node_count is not None
                    else {}
                ),
            }
        }
        try:
            await asyncio.to_thread(
                self._custom.patch_namespaced_custom_object_status,
                API_GROUP,
                STORAGE_VERSION,
                update.namespace,
                PLURAL,
                update.name,
                body,
            )
        except ApiException as err:
            if err.status != 404:
                raise _final(err, "write the Workspace status") from None
