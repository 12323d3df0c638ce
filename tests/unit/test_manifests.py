"""The agent pool body, the Service and the inference workload built from a plan."""

import re
from datetime import timedelta

from activities import workspace_objects as manifests
from activities.config import ActivityConfig, ClusterTarget
from tests.conftest import load_example
from workflows.naming import agent_pool_name
from workflows.workspace_contracts import ProvisioningPlan
from workflows.workspace_plan import build_plan
from workflows.workspace_validation import parse_workspace

CONFIG = ActivityConfig(cluster=ClusterTarget(subscription_id="s", resource_group="g", cluster_name="c"))


def plan_for(example: str, uid: str | None = "uid-1") -> ProvisioningPlan:
    manifest = load_example(example)
    manifest["metadata"]["uid"] = uid  # type: ignore[index]
    return build_plan(parse_workspace(manifest), CONFIG)


def test_pool_name_is_legal_deterministic_and_distinct() -> None:
    names = {
        agent_pool_name(ns, n) for ns in ("default", "team-a") for n in ("a", "b", "workspace-falcon-7b")
    }
    assert len(names) == 6
    assert all(re.fullmatch(r"[a-z][a-z0-9]{0,11}", name) for name in names)
    assert agent_pool_name("default", "a") == agent_pool_name("default", "a")


def test_plan_for_the_seed_workspace() -> None:
    plan = plan_for("workspace-falcon-7b.yaml")
    assert (plan.model, plan.instance_type, plan.node_count, plan.gpus_per_node) == (
        "falcon-7b",
        "Standard_NC12s_v3",
        1,
        2,
    )
    assert plan.agent_pool == agent_pool_name("default", "workspace-falcon-7b")
    assert plan.node_ready_timeout == timedelta(minutes=30)
    assert plan.inference_ready_timeout == timedelta(minutes=30)
    assert (plan.os_disk_gb, plan.runtime, plan.served_model_name) == (90, "vllm", "falcon-7b")


def test_agent_pool_body() -> None:
    plan = plan_for("workspace-falcon-40b.yaml")
    props = manifests.agent_pool_body(plan)["properties"]
    assert props["vmSize"] == "Standard_NC96ads_A100_v4" and props["count"] == 1
    assert props["osDiskSizeGB"] == 280 and props["mode"] == "User" and props["osType"] == "Linux"
    assert props["nodeTaints"] == ["sku=gpu:NoSchedule"]
    assert props["nodeLabels"] == {
        "apps": "falcon-40b",
        "kaito.sh/workspace": "workspace-falcon-40b",
        "kaito.sh/workspacenamespace": "default",
        "kaito.sh/machine-type": "gpu",
    }
    assert manifests.agent_pool_body(plan, count=0)["properties"]["count"] == 0


def test_service_maps_80_to_5000_and_is_owned_by_the_workspace() -> None:
    svc = manifests.service(plan_for("workspace-phi-3-mini.yaml"))
    assert svc["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 5000}]
    assert svc["spec"]["selector"] == {"kaito.sh/workspace": "workspace-phi-3-mini"}
    owner = svc["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Workspace", "uid-1", True)
    assert (
        manifests.service(plan_for("workspace-phi-3-mini.yaml", uid=None))["metadata"]["ownerReferences"]
        == []
    )


def test_workload_requests_gpus_tolerates_the_taint_and_sticks_to_its_nodes() -> None:
    plan = plan_for("workspace-falcon-40b.yaml")
    sts = manifests.workload(plan)
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert sts["kind"] == "StatefulSet" and sts["spec"]["replicas"] == 1
    assert container["resources"]["requests"] == {"nvidia.com/gpu": "4"}
    assert {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"} in pod["tolerations"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    required = {e["key"]: e["values"] for e in terms[0]["matchExpressions"]}
    assert required == {
        "apps": ["falcon-40b"],
        "kaito.sh/workspace": ["workspace-falcon-40b"],
        "kaito.sh/workspacenamespace": ["default"],
        "node.kubernetes.io/instance-type": ["Standard_NC96ads_A100_v4"],
    }
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": 5000}
    assert container["startupProbe"]["failureThreshold"] == 180  # 30 minutes at 10 s
    assert "--served-model-name=falcon-40b" in container["command"]
    assert "--tensor-parallel-size=4" in container["command"]
    assert container["ports"] == [{"name": "http", "containerPort": 5000}]


def test_gated_model_gets_its_token_from_the_access_secret() -> None:
    manifest = load_example("workspace-phi-3-mini.yaml")
    manifest["resource"]["instanceType"] = "Standard_NC24ads_A100_v4"  # type: ignore[index]
    manifest["inference"] = {
        "preset": {"name": "llama-3.1-8b-instruct", "presetOptions": {"modelAccessSecret": "hf"}}
    }
    plan = build_plan(parse_workspace(manifest), CONFIG)
    env = manifests.workload(plan)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "HF_TOKEN"}}} in env
