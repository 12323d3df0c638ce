"""Turning a valid Workspace into a ProvisioningPlan: node count, pool name, image, deadlines."""

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.config import ActivityConfig
from presets.models import Runtime, find_model
from presets.skus import find_sku
from workflows.contracts import ActivityName, ProvisioningPlan
from workflows.manifest import Workspace
from workflows.naming import agent_pool_name
from workflows.validation import (
    ANNOTATION_NODE_IMAGE_FAMILY,
    ANNOTATION_RUNTIME,
    WorkspaceInvalid,
    planned_node_count,
    validate_or_raise,
)


def build_plan(ws: Workspace, config: ActivityConfig) -> ProvisioningPlan:
    """Validate as KAITO's webhook would, then fix every decision the later steps depend on."""
    report = validate_or_raise(ws)
    model = find_model(ws.preset_name or "")
    assert model is not None and ws.resource.instance_type  # guaranteed by validation
    sku = find_sku(ws.resource.instance_type)
    runtime = ws.annotations.get(ANNOTATION_RUNTIME, model.default_runtime.value)
    return ProvisioningPlan(
        namespace=ws.namespace,
        name=ws.name,
        uid=ws.metadata.uid,
        api_version=ws.api_version,
        model=model.name,
        hf_repo=model.hf_repo,
        hf_revision=model.hf_revision,
        served_model_name=model.served_model_name,
        image=model.image,
        runtime=Runtime(runtime).value,
        instance_type=sku.name if sku else ws.resource.instance_type,
        gpus_per_node=sku.gpu_count if sku else None,
        hourly_usd=sku.hourly_usd if sku else None,
        node_count=planned_node_count(ws, model, sku),
        agent_pool=agent_pool_name(ws.namespace, ws.name),
        os_disk_gb=model.disk_gib,
        match_labels=ws.match_labels,
        os_sku="AzureLinux"
        if ws.annotations.get(ANNOTATION_NODE_IMAGE_FAMILY, "").lower() == "azurelinux"
        else "Ubuntu",
        model_access_secret=_access_secret(ws),
        node_ready_timeout=config.node_ready_timeout,
        inference_ready_timeout=config.inference_ready_timeout
        or timedelta(minutes=model.readiness_timeout_minutes),
        warnings=report.warnings,
    )


def _access_secret(ws: Workspace) -> str | None:
    preset = ws.inference.preset if ws.inference else None
    options = preset.preset_options if preset else None
    return options.model_access_secret if options else None


class PlanningActivities:
    def __init__(self, config: ActivityConfig) -> None:
        self._config = config

    @activity.defn(name=ActivityName.VALIDATE)
    async def validate_workspace(self, ws: Workspace) -> ProvisioningPlan:
        """Invalid input is final: no retry turns a wrong spec into a right one."""
        try:
            return build_plan(ws, self._config)
        except WorkspaceInvalid as invalid:
            raise ApplicationError(str(invalid), type="WorkspaceInvalid", non_retryable=True) from None
