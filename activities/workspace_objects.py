"""Request bodies and Kubernetes objects for a plan: pure functions, so every field is unit-tested.

The agent pool body is what KAITO's gpu-provisioner sends ARM for a NodeClaim: a User pool of VM scale
sets of the planned size, its nodes labelled for the workspace and tainted so only GPU work lands there.
The objects are what KAITO's workspace controller creates for an inference workspace: a ClusterIP
Service (port 80 to the server's 5000), a headless Service for stable pod names, and a StatefulSet of one
pod per GPU node that requests every GPU of its node, all owned by the Workspace.
"""

import math
from typing import Any

from workflows.byo_nodes import MIG_RESOURCE_PREFIX
from workflows.naming import (
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    INFERENCE_PORT,
    LABEL_INSTANCE_TYPE,
    LABEL_MACHINE_TYPE,
    LABEL_WORKSPACE,
    LABEL_WORKSPACE_NAMESPACE,
    SERVICE_PORT,
    headless_service_name,
)
from workflows.workspace_contracts import (
    ANNOTATION_ROUTED_TO,
    WAKE_GATEWAY_APP,
    ProvisioningPlan,
)

WORKSPACE_API_GROUP_VERSION = "kaito.sh/v1beta1"
PROBE_PERIOD_SECONDS = 10


def workspace_labels(plan: ProvisioningPlan) -> dict[str, str]:
    """The labels that tie nodes and pods to one workspace."""
    return {LABEL_WORKSPACE: plan.name, LABEL_WORKSPACE_NAMESPACE: plan.namespace}


ADAPTER_PULLER_IMAGE = "mcr.microsoft.com/aks/skopeo:1.14.4-6"
ADAPTER_MOUNT = "/mnt/adapter"
CONFIG_MOUNT = "/mnt/config"
CONFIG_FILE = "inference_config.yaml"


def node_labels(plan: ProvisioningPlan) -> dict[str, str]:
    """Labels AKS puts on every node of the pool: the user's selector plus KAITO's own."""
    return {
        **plan.match_labels,
        **workspace_labels(plan),
        LABEL_MACHINE_TYPE: "gpu" if plan.instance_type.lower().startswith("standard_n") else "cpu",
    }


def gpu_resource(plan: ProvisioningPlan) -> str:
    """What a replica requests: whole GPUs, or one slice of its MIG profile."""
    return f"{MIG_RESOURCE_PREFIX}{plan.mig_profile}" if plan.mig_profile else GPU_RESOURCE


def node_selector(plan: ProvisioningPlan) -> str:
    """The label selector of the workspace's nodes: its pool's labels, or for BYO the user's selector."""
    labels = plan.match_labels if plan.bring_your_own_nodes else workspace_labels(plan)
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def agent_pool_body(plan: ProvisioningPlan, count: int | None = None) -> dict[str, Any]:
    """The ARM PUT body of the workspace's GPU agent pool (a User pool of VM scale sets)."""
    return {
        "properties": {
            "count": plan.node_count if count is None else count,
            "vmSize": plan.instance_type,
            "osDiskSizeGB": plan.os_disk_gb,
            "osType": "Linux",
            "osSKU": plan.os_sku,
            "type": "VirtualMachineScaleSets",
            "mode": "User",
            "nodeLabels": node_labels(plan),
            "nodeTaints": [f"{GPU_TAINT_KEY}={GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}"],
            "tags": {"kaito.sh/workspace": f"{plan.namespace}/{plan.name}"},
        }
    }


def owner_references(plan: ProvisioningPlan) -> list[dict[str, Any]]:
    """Owned by the Workspace, so deleting it garbage-collects the objects even if we never run again."""
    if not plan.uid:
        return []
    return [
        {
            "apiVersion": WORKSPACE_API_GROUP_VERSION,
            "kind": "Workspace",
            "name": plan.name,
            "uid": plan.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def _metadata(plan: ProvisioningPlan, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": plan.namespace,
        "labels": workspace_labels(plan),
        "ownerReferences": owner_references(plan),
    }


def service(plan: ProvisioningPlan) -> dict[str, Any]:
    """ClusterIP Service: port 80 to the inference server's 5000, as KAITO exposes it; while the wake
    gateway holds it (`plan.routed_to_gateway`), without a selector: its endpoints are the gateway's."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(plan, plan.name),
        "spec": {
            "type": "ClusterIP",
            "selector": {LABEL_WORKSPACE: plan.name},
            "ports": [
                {"name": "http", "protocol": "TCP", "port": SERVICE_PORT, "targetPort": INFERENCE_PORT}
            ],
        },
    }
    if plan.routed_to_gateway:
        del body["spec"]["selector"]
        body["metadata"]["annotations"] = {ANNOTATION_ROUTED_TO: WAKE_GATEWAY_APP}
    return body


def headless_service(plan: ProvisioningPlan) -> dict[str, Any]:
    """The StatefulSet's governing Service: stable pod DNS names for multi-node inference."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(plan, headless_service_name(plan.name)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {LABEL_WORKSPACE: plan.name},
            "ports": [
                {"name": "http", "protocol": "TCP", "port": INFERENCE_PORT, "targetPort": INFERENCE_PORT}
            ],
        },
    }


def inference_command(plan: ProvisioningPlan) -> list[str]:
    gpus = plan.gpus_per_node or 1
    extra: list[str] = []
    if plan.inference_config:
        extra.append(f"--kaito-config-file={CONFIG_MOUNT}/{CONFIG_FILE}")
    if plan.adapters:
        extra.append(f"--kaito-adapters-dir={ADAPTER_MOUNT}")
    if plan.runtime == "transformers":
        return [
            "accelerate",
            "launch",
            "--num_processes",
            "1",
            "--num_machines",
            "1",
            "--machine_rank",
            "0",
            "--gpu_ids",
            "all",
            "/workspace/tfs/inference_api.py",
            f"--pretrained_model_name_or_path={plan.hf_repo}",
            f"--revision={plan.hf_revision}",
            "--torch_dtype=bfloat16",
            "--pipeline=text-generation",
            *extra,
        ]
    return [
        "python3",
        "/workspace/vllm/inference_api.py",
        f"--served-model-name={plan.served_model_name}",
        f"--model={plan.hf_repo}",
        f"--code-revision={plan.hf_revision}",
        "--download-dir=/workspace/weights",
        f"--tensor-parallel-size={gpus}",
        f"--pipeline-parallel-size={nodes_per_replica(plan)}",
        "--gpu-memory-utilization=0.84",
        *extra,
    ]


def nodes_per_replica(plan: ProvisioningPlan) -> int:
    """One node per replica when `count` replicas each fit a node; else one replica over every node."""
    return 1 if plan.replicas else plan.node_count


def adapter_names(plan: ProvisioningPlan) -> list[str]:
    return [a.source.name for a in plan.adapters if a.source and a.source.name]


def adapter_pullers(plan: ProvisioningPlan) -> list[dict[str, Any]]:
    """One init container per image adapter, copying the image's files into the shared adapter volume
    under the adapter's name, before the server starts (the shape of KAITO's puller containers)."""
    pullers: list[dict[str, Any]] = []
    for adapter in plan.adapters:
        source = adapter.source
        if source is None or not source.name or not source.image:
            continue
        target = f"{ADAPTER_MOUNT}/{source.name}"
        pullers.append(
            {
                "name": f"puller-{source.name}",
                "image": ADAPTER_PULLER_IMAGE,
                "command": ["/bin/sh", "-c"],
                "args": [f'skopeo copy "docker://{source.image}" "dir:{target}"'],
                "volumeMounts": [{"name": "adapter-volume", "mountPath": ADAPTER_MOUNT}],
            }
        )
    return pullers


def adapter_strengths(plan: ProvisioningPlan) -> list[dict[str, Any]]:
    """KAITO passes each adapter's strength as an environment variable named after the adapter."""
    return [
        {"name": a.source.name, "value": a.strength}
        for a in plan.adapters
        if a.source and a.source.name and a.strength is not None
    ]


def _probe(failure_threshold: int, initial_delay: int = 0) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/health", "port": INFERENCE_PORT},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": PROBE_PERIOD_SECONDS,
        "failureThreshold": failure_threshold,
    }


def node_affinity(plan: ProvisioningPlan) -> dict[str, Any]:
    """Only this workspace's nodes of the planned size: never another workspace's GPUs."""
    if plan.bring_your_own_nodes:
        # Existing nodes: the user's selector (and preferredNodes, when given) picks them.
        expressions = [
            {"key": key, "operator": "In", "values": [value]}
            for key, value in sorted(plan.match_labels.items())
        ]
        if plan.preferred_nodes:
            expressions.append(
                {"key": "kubernetes.io/hostname", "operator": "In", "values": list(plan.preferred_nodes)}
            )
        return {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}]
            }
        }
    required = {**node_labels(plan)}
    required.pop(LABEL_MACHINE_TYPE)
    expressions = [
        {"key": key, "operator": "In", "values": [value]} for key, value in sorted(required.items())
    ]
    expressions.append({"key": LABEL_INSTANCE_TYPE, "operator": "In", "values": [plan.instance_type]})
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": expressions}]
        }
    }


def workload(plan: ProvisioningPlan) -> dict[str, Any]:
    """One inference pod per GPU node, requesting every GPU of it, tolerating the GPU taint."""
    gpus = str(plan.gpus_per_node or 1)
    startup_failures = math.ceil(plan.inference_ready_timeout.total_seconds() / PROBE_PERIOD_SECONDS)
    env: list[dict[str, Any]] = [{"name": "PYTORCH_CUDA_ALLOC_CONF", "value": "expandable_segments:True"}]
    if plan.model_access_secret:
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": plan.model_access_secret, "key": "HF_TOKEN"}},
            }
        )
    env.extend(adapter_strengths(plan))
    pod_labels = {LABEL_WORKSPACE: plan.name}
    mounts: list[dict[str, Any]] = [
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "weights", "mountPath": "/workspace/weights"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
        {"name": "weights", "emptyDir": {}},
    ]
    if plan.inference_config:
        mounts.append({"name": "config-volume", "mountPath": CONFIG_MOUNT})
        volumes.append({"name": "config-volume", "configMap": {"name": plan.inference_config}})
    pullers = adapter_pullers(plan)
    if pullers:
        mounts.append({"name": "adapter-volume", "mountPath": ADAPTER_MOUNT})
        volumes.append({"name": "adapter-volume", "emptyDir": {}})
    annotations = {"kaito.sh/model": plan.model}
    if plan.adapters:
        annotations["kaito.sh/adapters"] = ",".join(adapter_names(plan))
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(plan, plan.name),
        "spec": {
            "replicas": plan.node_count,
            "serviceName": headless_service_name(plan.name),
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": annotations},
                "spec": {
                    "affinity": {
                        "nodeAffinity": node_affinity(plan),
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {"matchLabels": pod_labels},
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        },
                    },
                    "tolerations": [
                        {
                            "key": GPU_TAINT_KEY,
                            "operator": "Equal",
                            "value": GPU_TAINT_VALUE,
                            "effect": GPU_TAINT_EFFECT,
                        },
                        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
                    ],
                    "containers": [
                        {
                            "name": "inference",
                            "image": plan.image,
                            "command": inference_command(plan),
                            "env": env,
                            "ports": [{"name": "http", "containerPort": INFERENCE_PORT}],
                            "resources": {
                                "requests": {gpu_resource(plan): gpus},
                                "limits": {gpu_resource(plan): gpus},
                            },
                            "startupProbe": _probe(startup_failures),
                            "readinessProbe": _probe(3, initial_delay=30),
                            "livenessProbe": _probe(3),
                            "volumeMounts": mounts,
                        }
                    ],
                    **({"initContainers": pullers} if pullers else {}),
                    "volumes": volumes,
                },
            },
        },
    }


def service_endpoint(plan: ProvisioningPlan) -> str:
    """Where clients inside the cluster reach the model (OpenAI-compatible API under /v1)."""
    return f"http://{plan.name}.{plan.namespace}.svc.cluster.local:{SERVICE_PORT}"
