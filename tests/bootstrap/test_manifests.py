"""The bootstrap's Kubernetes manifests, field by field: pure functions, no cluster."""

from typing import Any

import pytest
from pydantic import ValidationError

from activities.cluster_manifests import (
    CRD_NAME,
    ComponentDefaults,
    access_manifests,
    bindings,
    component_manifests,
    controller_deployment,
    controller_role,
    worker_cluster_role,
    worker_deployment,
    worker_role,
    worker_service_account,
    workspace_crd,
)
from activities.kube_api import object_name
from workflows.bootstrap_contracts import BootstrapRequest, ClusterSetup, bootstrap_workflow_id

SETUP = ClusterSetup(
    subscription_id="sub",
    resource_group="rg",
    cluster_name="aks",
    location="eastus",
    namespace="kaito-system",
    worker_service_account="kaito-worker",
    controller_service_account="kaito-controller",
    client_id="11111111-1111-1111-1111-111111111111",
    tenant_id="22222222-2222-2222-2222-222222222222",
)
DEFAULTS = ComponentDefaults(image="registry.example/kaito-temporal:1.2.3", temporal_address="t.example:7233")


def rules_by_resource(role: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault(f"{group}/{resource}", set()).update(rule["verbs"])
    return out


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def test_the_crd_is_the_one_in_deploy() -> None:
    crd = workspace_crd()
    assert crd["kind"] == "CustomResourceDefinition" and crd["metadata"]["name"] == CRD_NAME
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    assert versions["v1beta1"]["storage"] and versions["v1alpha1"]["served"]


def test_worker_service_account_carries_the_identity() -> None:
    sa = worker_service_account(SETUP)
    assert sa["metadata"]["namespace"] == "kaito-system" and sa["metadata"]["name"] == "kaito-worker"
    assert sa["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": SETUP.client_id,
        "azure.workload.identity/tenant-id": SETUP.tenant_id,
    }


def test_access_manifests_come_in_dependency_order() -> None:
    names = [object_name(body) for body in access_manifests(SETUP)]
    assert names[0] == "Namespace/kaito-system"
    assert names.index("ServiceAccount/kaito-system/kaito-worker") < names.index(
        "ClusterRoleBinding/kaito-worker"
    )
    assert names.index("ClusterRole/kaito-worker") < names.index("ClusterRoleBinding/kaito-worker")
    assert all(body["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kaito-temporal"
               for body in access_manifests(SETUP))  # fmt: skip


def test_worker_rights_are_what_the_provisioning_activities_use_and_no_more() -> None:
    rules = rules_by_resource(worker_role())
    assert rules["kaito.sh/workspaces"] == {"get", "list", "watch", "create", "delete"}
    assert rules["kaito.sh/workspaces/status"] == {"get", "patch", "update"}
    assert {"create", "patch", "delete"} <= rules["apps/statefulsets"]
    assert rules["apps/statefulsets/scale"] == {"get", "patch", "update"}
    assert rules["/services/proxy"] == {"get", "create"}
    assert rules["/pods"] == {"get", "list", "watch"}, "pods are read, never written"
    assert rules["/pods/proxy"] == {"get"}, "the sweep reads /metrics, nothing else"
    assert "/secrets" not in rules and "/nodes" not in rules, "nodes come from the cluster-wide role"
    assert not any("*" in verbs for verbs in rules.values()), "no wildcards"


def test_cluster_wide_worker_rights_are_read_only() -> None:
    rules = rules_by_resource(worker_cluster_role())
    assert rules == {"/nodes": {"get", "list", "watch"}, "kaito.sh/workspaces": {"get", "list", "watch"}}


def test_controller_only_watches_and_patches() -> None:
    rules = rules_by_resource(controller_role())
    assert rules["kaito.sh/workspaces"] == {"get", "list", "watch", "patch", "update"}
    assert rules["/nodes"] == {"get", "list", "watch"}
    assert rules["apps/statefulsets"] == {"get", "list", "watch"}
    assert "/services/proxy" not in rules
    # What kopf does as the controller's service account (found running it with that token):
    assert rules["kaito.sh/workspaces/status"] == {"get", "patch"}, "a refusal is written to the status"
    assert rules["apiextensions.k8s.io/customresourcedefinitions"] == {"get", "list", "watch"}
    assert not any(resource.endswith("/secrets") for resource in rules)


def test_worker_rights_cluster_wide_or_only_in_workspace_namespaces() -> None:
    wide = {object_name(b) for b in bindings(SETUP)}
    assert wide == {
        "ClusterRoleBinding/kaito-worker",
        "ClusterRoleBinding/kaito-worker-cluster",
        "ClusterRoleBinding/kaito-controller",
    }
    narrow = bindings(SETUP.model_copy(update={"workspace_namespaces": ["team-a", "team-b"]}))
    names = {object_name(b) for b in narrow}
    assert "ClusterRoleBinding/kaito-worker" not in names
    assert {"RoleBinding/team-a/kaito-worker", "RoleBinding/team-b/kaito-worker"} <= names
    for binding in narrow:
        assert binding["subjects"] in (
            [{"kind": "ServiceAccount", "name": "kaito-worker", "namespace": "kaito-system"}],
            [{"kind": "ServiceAccount", "name": "kaito-controller", "namespace": "kaito-system"}],
        )


def test_worker_deployment_uses_workload_identity_and_no_secret() -> None:
    deployment = worker_deployment(SETUP, DEFAULTS)
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == "kaito-worker"
    container = pod["spec"]["containers"][0]
    assert container["image"] == "registry.example/kaito-temporal:1.2.3"
    assert container["command"] == ["python", "-m", "worker"]
    env = env_of(deployment)
    assert env["KAITO_SUBSCRIPTION_ID"] == "sub" and env["KAITO_CLUSTER_NAME"] == "aks"
    assert env["KAITO_TEMPORAL_ADDRESS"] == "t.example:7233"
    assert env["AZURE_TOKEN_CREDENTIALS"] == "WorkloadIdentityCredential"
    assert not any(name.startswith("AZURE_CLIENT") for name in env), "the webhook injects those"
    assert pod["spec"]["terminationGracePeriodSeconds"] > 60, "longer than the worker's graceful shutdown"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_controller_deployment_has_no_azure_identity_and_a_liveness_probe() -> None:
    deployment = controller_deployment(SETUP, DEFAULTS)
    pod = deployment["spec"]["template"]
    assert "azure.workload.identity/use" not in pod["metadata"]["labels"]
    assert pod["spec"]["serviceAccountName"] == "kaito-controller"
    container = pod["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert env_of(deployment)["KAITO_CONTROLLER_LIVENESS"].endswith(":8080/healthz")


def test_replicas_and_image_follow_the_setup() -> None:
    replicas = {"worker_replicas": 0, "controller_replicas": 0, "gateway_replicas": 0}
    setup = SETUP.model_copy(update={**replicas, "image": "mine:dev"})
    for deployment in component_manifests(setup, DEFAULTS):
        assert deployment["spec"]["replicas"] == 0
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "mine:dev"


def test_request_defaults_and_names() -> None:
    req = BootstrapRequest(subscription_id="s", resource_group="g", cluster_name="c")
    assert req.workflow_id == bootstrap_workflow_id("s", "g", "c") == "bootstrap/s/g/c"
    assert req.identity == "kaito-worker-c"
    assert req.subject == "system:serviceaccount:kaito-system:kaito-worker"
    assert BootstrapRequest.model_validate_json(req.model_dump_json()) == req


@pytest.mark.parametrize(
    "bad",
    [
        {"namespace": "Kaito_System"},
        {"worker_service_account": "-x"},
        {"identity_name": "a"},
        {"federated_credential_name": "no spaces"},
        {"controller_replicas": 2},
        {"workspace_namespaces": ["UPPER"]},
    ],
)
def test_request_refuses_bad_names(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BootstrapRequest.model_validate(
            {"subscription_id": "s", "resource_group": "g", "cluster_name": "c", **bad}
        )
