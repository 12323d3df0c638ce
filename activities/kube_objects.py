"""Kubernetes activities: apply the inference objects, read readiness, write the Workspace status.

Every call goes through `activities.kube_api` (a thread per call, one retry rule set). Objects are
server-side applied under one field manager, so a retry is a no-op; reads and deletes to which a missing
object is an answer (a StatefulSet not created yet, a Workspace already deleted) treat 404 as "absent".
"""

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api, CustomObjectsApi
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import kube_api
from activities import workspace_objects as manifests
from presets.models import find_model
from workflows.byo_nodes import ByoNodesUnfit, check_byo_nodes
from workflows.inference_config import config_map_problems
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
from workflows.workspace_plan import build_plan
from workflows.workspace_spec import API_GROUP, PLURAL, STORAGE_VERSION, Workspace

FIELD_MANAGER = "kaito-temporal"


def _on_workspace(
    method: Callable[..., Any], version: str, namespace: str, name: str, *args: Any
) -> Callable[[], Any]:
    """A custom-object call on one Workspace (they take group, version, namespace, plural, name, ...)."""
    return partial(method, API_GROUP, version, namespace, PLURAL, name, *args)


class KubeActivities:
    def __init__(self, api: ApiClient) -> None:
        self._api = api
        self._core = CoreV1Api(api)
        self._apps = AppsV1Api(api)
        self._custom = CustomObjectsApi(api)

    @activity.defn(name=ActivityName.COUNT_READY_NODES)
    async def count_ready_nodes(self, plan: ProvisioningPlan) -> NodeReadiness:
        selector = manifests.node_selector(plan)
        asked = datetime.now(UTC)  # stamped before the read: a signal observed meanwhile is newer
        nodes = await kube_api.call("list nodes", lambda: self._core.list_node(label_selector=selector))
        items = self._api.sanitize_for_serialization(nodes)["items"]
        ready = ready_gpu_nodes(items, plan.instance_type, manifests.gpu_resource(plan))
        if plan.preferred_nodes:
            ready = [node for node in ready if node in plan.preferred_nodes] or ready
        return NodeReadiness(ready=len(ready), nodes=ready, observed_at=asked)

    @activity.defn(name=ActivityName.ENSURE_INFERENCE)
    async def ensure_inference(self, plan: ProvisioningPlan) -> InferenceObjects:
        doing = "apply the inference objects"
        await self._refuse_unfit(plan)
        dynamic = await kube_api.dynamic_client(self._api, doing)
        for body in (manifests.headless_service(plan), manifests.service(plan), manifests.workload(plan)):
            await kube_api.apply(dynamic, body, field_manager=FIELD_MANAGER, doing=doing)
        return InferenceObjects(
            service=plan.name, workload=plan.name, endpoint=manifests.service_endpoint(plan)
        )

    async def _refuse_unfit(self, plan: ProvisioningPlan) -> None:
        """What KAITO's webhook reads from the cluster: the inference.config ConfigMap and, for BYO,
        the nodes' GPU labels. A refusal is final, and nothing is applied."""
        problems: list[str] = []
        if plan.inference_config:
            found = await kube_api.call_if_present(
                "read the inference.config ConfigMap",
                partial(self._core.read_namespaced_config_map, plan.inference_config, plan.namespace),
            )
            data = self._api.sanitize_for_serialization(found) if found is not None else None
            model = find_model(plan.model)
            problems += [
                f"{where}: {message}"
                for where, message in config_map_problems(
                    data, plan.inference_config, plan.namespace, model, plan.runtime
                )
            ]
        if plan.bring_your_own_nodes:
            selector = manifests.node_selector(plan)
            nodes = await kube_api.call("list nodes", lambda: self._core.list_node(label_selector=selector))
            items = self._api.sanitize_for_serialization(nodes)["items"]
            if plan.preferred_nodes:
                items = [n for n in items if n["metadata"]["name"] in plan.preferred_nodes] or items
            try:  # a MIG slice's fit is checked at validation; its nodes report no whole-GPU memory
                model = None if plan.mig_profile else find_model(plan.model)
                check_byo_nodes(
                    items, plan.match_labels, model, plan.node_count, whole_gpus=not plan.mig_profile
                )
            except ByoNodesUnfit as unfit:
                problems.append(f"resource.labelSelector: {unfit}")
        if problems:
            raise ApplicationError("; ".join(problems), type="WorkspaceInvalid", non_retryable=True)

    @activity.defn(name=ActivityName.COUNT_READY_REPLICAS)
    async def count_ready_replicas(self, plan: ProvisioningPlan) -> WorkloadReadiness:
        asked = datetime.now(UTC)  # stamped before the read: a signal observed meanwhile is newer
        sts = await kube_api.call_if_present(
            "read the inference StatefulSet",
            partial(self._apps.read_namespaced_stateful_set, plan.name, plan.namespace),
        )
        status = sts.status if sts is not None else None
        return WorkloadReadiness(
            ready_replicas=int(status.ready_replicas or 0) if status else 0,
            replicas=int(status.replicas or 0) if status else 0,
            observed_at=asked,
        )

    @activity.defn(name=ActivityName.SCALE_INFERENCE)
    async def scale_inference(self, scale: InferenceScale) -> None:
        """Set the workload's replicas through the scale subresource (0 on suspend); gone is fine."""
        plan = scale.plan
        await kube_api.call_if_present(
            f"scale the workload to {scale.replicas}",
            partial(
                self._apps.patch_namespaced_stateful_set_scale,
                plan.name, plan.namespace, {"spec": {"replicas": scale.replicas}},
            ),
        )  # fmt: skip

    @activity.defn(name=ActivityName.DELETE_INFERENCE)
    async def delete_inference(self, plan: ProvisioningPlan) -> None:
        """Delete the workload, then its Services; what is already gone is fine."""
        headless = manifests.headless_service(plan)["metadata"]["name"]
        deletions: dict[str, Callable[[], Any]] = {
            "StatefulSet": partial(
                self._apps.delete_namespaced_stateful_set,
                plan.name, plan.namespace, propagation_policy="Foreground",
            ),
            "Service": partial(self._core.delete_namespaced_service, plan.name, plan.namespace),
            "headless Service": partial(self._core.delete_namespaced_service, headless, plan.namespace),
        }  # fmt: skip
        for what, delete in deletions.items():
            await kube_api.call_if_present(f"delete the {what}", delete)

    @activity.defn(name=ActivityName.ENSURE_OBJECT)
    async def ensure_workspace_object(self, ws: Workspace) -> str:
        """The Workspace's uid, creating the object first when the workflow was started without one.
        Before its first deployment, first what admission reads from the cluster (the ConfigMap, BYO
        nodes), so that nothing is created for a workspace KAITO's webhook would refuse; a later run
        (continued as new, with its workload in place) is never refused for what changed since."""
        deployed = await kube_api.call_if_present(
            "read the inference StatefulSet",
            partial(self._apps.read_namespaced_stateful_set, ws.name, ws.namespace),
        )
        if deployed is None:
            await self._refuse_unfit(build_plan(ws))
        group_version = ws.api_version.split("/", 1)[1]
        found = await kube_api.call_if_present(
            "read the Workspace",
            _on_workspace(self._custom.get_namespaced_custom_object, group_version, ws.namespace, ws.name),
        )
        if found is None:
            body = ws.model_dump(mode="json", exclude_none=True, exclude={"status"})
            body["metadata"] = {
                key: value
                for key, value in body["metadata"].items()
                if key in ("name", "namespace", "labels", "annotations")
            }
            body["metadata"]["namespace"] = ws.namespace
            found = await kube_api.call(
                "create the Workspace",
                lambda: self._custom.create_namespaced_custom_object(
                    API_GROUP, group_version, ws.namespace, PLURAL, body, field_manager=FIELD_MANAGER
                ),
            )
        return str(cast(dict[str, Any], found)["metadata"]["uid"])

    @activity.defn(name=ActivityName.DELETE_OBJECT)
    async def delete_workspace_object(self, ws: Workspace) -> None:
        """Remove the Workspace once its resources are gone; the controller's finalizer then lets go."""
        await kube_api.call_if_present(
            "delete the Workspace",
            _on_workspace(
                self._custom.delete_namespaced_custom_object, STORAGE_VERSION, ws.namespace, ws.name
            ),
        )

    @activity.defn(name=ActivityName.WRITE_STATUS)
    async def write_workspace_status(self, update: StatusUpdate) -> None:
        """Patch the status subresource; a Workspace that does not exist (yet, or any more) is skipped."""
        status: dict[str, Any] = {
            "state": update.state,
            "conditions": [
                c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in update.conditions
            ],
            "workerNodes": update.worker_nodes,
        }
        if update.target_node_count is not None:
            status["targetNodeCount"] = update.target_node_count
        await kube_api.call_if_present(
            "write the Workspace status",
            _on_workspace(
                self._custom.patch_namespaced_custom_object_status,
                STORAGE_VERSION, update.namespace, update.name, {"status": status},
            ),
        )  # fmt: skip
