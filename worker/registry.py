"""What the provisioning worker serves: the workflows and every activity, bound to their clients."""

from collections.abc import Callable
from typing import Any

from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from kubernetes.client import ApiClient

from activities.agent_pools import AgentPoolActivities
from activities.capacity import CapacityActivities
from activities.config import ActivityConfig, ClusterTarget
from activities.health import HealthActivities
from activities.inferenceset_activities import InferenceSetActivities
from activities.kube_objects import KubeActivities
from activities.planning import PlanningActivities
from activities.service_routing import ServiceRoutingActivities
from activities.sweep import SweepActivities
from worker.settings import WorkerSettings
from workflows.inferenceset_workflow import InferenceSetWorkflow
from workflows.sweep_workflow import ScaleToZeroSweep
from workflows.workspace_workflow import WorkspaceWorkflow

WORKFLOWS: list[type] = [WorkspaceWorkflow, ScaleToZeroSweep, InferenceSetWorkflow]


def activity_config(settings: WorkerSettings) -> ActivityConfig:
    return ActivityConfig(
        cluster=ClusterTarget.model_validate(settings, from_attributes=True),
        node_ready_timeout=settings.node_ready_timeout,
        inference_ready_timeout=settings.inference_ready_timeout,
    )


def provisioning_activities(
    config: ActivityConfig, azure: ContainerServiceClient, kube: ApiClient, compute: ComputeManagementClient
) -> list[Callable[..., Any]]:
    pools = AgentPoolActivities(config, azure)
    capacity = CapacityActivities(config, compute, azure)
    objects = KubeActivities(kube)
    sweep = SweepActivities(kube)
    sets = InferenceSetActivities(kube)
    routing = ServiceRoutingActivities(kube)
    return [
        PlanningActivities(config).validate_workspace,
        objects.ensure_workspace_object,
        objects.delete_workspace_object,
        pools.ensure_agent_pool,
        pools.delete_agent_pool,
        objects.count_ready_nodes,
        objects.ensure_inference,
        objects.count_ready_replicas,
        objects.delete_inference,
        objects.scale_inference,
        pools.scale_agent_pool,
        objects.write_workspace_status,
        HealthActivities(kube).check_inference_health,
        sweep.list_sweep_candidates,
        sweep.sample_inference_traffic,
        sets.validate_inferenceset,
        sets.observe_inferenceset_workspaces,
        sets.resume_inferenceset_workspace,
        sets.write_inferenceset_status,
        capacity.check_capacity,
        capacity.wake_capacity_waiters,
        routing.route_service_to_gateway,
        routing.route_service_to_model,
    ]
