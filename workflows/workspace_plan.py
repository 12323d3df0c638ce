"""Turning a valid Workspace into a ProvisioningPlan: node count, pool name, image, deadlines.

Pure (presets and the spec in, the plan out), so the CLI validates offline with the very rules the
validate activity applies, and the workflow's later steps depend only on what the plan fixed.
"""

from datetime import timedelta

from pydantic import BaseModel

from presets.models import find_model
from presets.skus import find_sku
from workflows.naming import agent_pool_name
from workflows.workspace_contracts import ProvisioningPlan
from workflows.workspace_spec import Workspace
from workflows.workspace_validation import (
    ANNOTATION_NODE_IMAGE_FAMILY,
    planned_node_count,
    planned_replicas,
    runtime_of,
    validate_or_raise,
)


class PlanDeadlines(BaseModel):
    """How long the GPU wait and the model load may take before the workspace fails."""

    node_ready_timeout: timedelta = timedelta(minutes=30)
    inference_ready_timeout: timedelta | None = None  # None: the preset's readiness timeout


def build_plan(ws: Workspace, config: PlanDeadlines | None = None) -> ProvisioningPlan:
    """Validate as KAITO's webhook would, then fix every decision the later steps depend on."""
    config = config or PlanDeadlines()
    report = validate_or_raise(ws)
    model = find_model(ws.preset_name or "")
    assert model is not None  # guaranteed by validation
    sku = find_sku(ws.resource.instance_type) if ws.resource.instance_type else None
    options = ws.inference.preset.preset_options if ws.inference and ws.inference.preset else None
    partition = ws.resource.partition
    return ProvisioningPlan(
        namespace=ws.namespace,
        name=ws.name,
        uid=ws.metadata.uid,
        api_version=ws.api_version,
        model=model.name,
        hf_repo=model.hf_repo,
        hf_revision=model.hf_revision,
        served_model_name=model.served_model_name,
        image=options.image if model.private_image and options and options.image else model.image,
        runtime=runtime_of(ws, model).value,
        instance_type=sku.name if sku else (ws.resource.instance_type or ""),
        gpus_per_node=sku.gpu_count if sku else (partition.count or 1 if partition else None),
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
        replicas=planned_replicas(ws, model, sku),
        inference_config=ws.inference.config if ws.inference else None,
        adapters=list(ws.inference.adapters or []) if ws.inference else [],
        bring_your_own_nodes=ws.bring_your_own_nodes,
        preferred_nodes=list(ws.resource.preferred_nodes or []),
        mig_profile=partition.profile if partition and partition.mode == "mig" else None,
    )


def _access_secret(ws: Workspace) -> str | None:
    preset = ws.inference.preset if ws.inference else None
    options = preset.preset_options if preset else None
    return options.model_access_secret if options else None
