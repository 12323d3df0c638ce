"""KAITO's example manifests, applied unchanged, provisioned to Ready on the local cloud.

The default run takes a representative set — a ConfigMap beside its Workspace, adapters through
`kaitoctl workspace apply`, a v0.3 llama-2 preset, a model spread over two nodes, `count` replicas of
a one-node model, BYO nodes — and hostile manifests through `kubectl apply`. The `long` run applies
every Workspace file of both folders at once, each in its own namespace, on one local cloud.
"""

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaitoctl.loading import secret_placeholders
from localcloud.controlplane import KWOK_NODE_ANNOTATION
from tests.e2e.conftest import STEP_TIMEOUT, Stack, condition, stack
from tests.waiting import wait_for
from workflows.naming import agent_pool_name

__all__ = ["stack"]

pytestmark = pytest.mark.controlplane

HERE = Path(__file__).parent / "kaito"
READY_TIMEOUT = 240.0
TOKEN = base64.b64encode(b"hf_local_cloud_token").decode()
QUOTAS = {"defaultFamilyQuota": 100_000, "familyQuotas": {"standardNCADSA100v4Family": 100_000,
          "StandardNVADSA10v5Family": 100_000, "standardNCSv3Family": 100_000,
          "standardNCadsH100v5Family": 100_000}}  # fmt: skip


@pytest.fixture(scope="module")
def cloud(stack: Stack) -> Iterator[Stack]:
    """The local cloud with family quotas raised (the emulator's settings API) and a real HF token."""
    before = stack.azure("/_emulator/settings")
    stack.azure("/_emulator/settings", patch=QUOTAS)
    yield stack
    stack.azure(
        "/_emulator/settings",
        patch={"defaultFamilyQuota": before["defaultFamilyQuota"], "familyQuotas": before["familyQuotas"]},
    )


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def workspace_of(path: Path) -> dict[str, Any]:
    return next(doc for doc in documents(path) if doc["kind"] == "Workspace")


def apply_file(stack: Stack, path: Path, namespace: str = "default") -> None:
    """`kubectl apply -f` of the file as it is; a Secret whose token is a placeholder is created with a
    token instead (the apiserver refuses placeholder data, and the user fills it in)."""
    if namespace != "default":
        stack.kubectl("create", "namespace", namespace, check=False)
    placeholders = [d for d in documents(path) if d["kind"] == "Secret" and secret_placeholders(d)]
    for secret in placeholders:
        name = secret["metadata"]["name"]
        token = f"--from-literal=HF_TOKEN={TOKEN}"
        stack.kubectl("create", "secret", "generic", name, "-n", namespace, token, check=False)
    if placeholders:
        rest = [d for d in documents(path) if d["kind"] != "Secret"]
        stack.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(rest))
    else:
        stack.kubectl("apply", "-n", namespace, "-f", str(path))


def ready(stack: Stack, name: str, namespace: str = "default") -> dict[str, Any] | None:
    done = stack.kubectl("get", "workspace", name, "-n", namespace, "-o", "json", check=False)
    workspace = json.loads(done.stdout) if done.returncode == 0 else None
    succeeded = condition(workspace, "WorkspaceSucceeded")
    if succeeded and succeeded["status"] == "False" and succeeded["reason"] == "WorkspaceInvalid":
        raise AssertionError(f"{namespace}/{name} refused: {succeeded['message']}")
    return workspace if succeeded and succeeded["status"] == "True" else None


def wait_ready(stack: Stack, name: str, namespace: str = "default") -> dict[str, Any]:
    return wait_for(
        lambda: ready(stack, name, namespace), f"{namespace}/{name} WorkspaceSucceeded=True",
        timeout=READY_TIMEOUT, explain=lambda: stack.explain(name),
    )  # fmt: skip


def delete_and_wait(stack: Stack, name: str, namespace: str = "default") -> None:
    stack.kubectl("delete", "workspace", name, "-n", namespace, "--timeout=180s")

    def gone() -> bool:
        pods = stack.kubectl("get", "pods", "-n", namespace, "-l", f"kaito.sh/workspace={name}", "-o", "name")
        return not pods.stdout.strip() and all(
            p["name"] != agent_pool_name(namespace, name) for p in stack.gpu_pools()
        )

    wait_for(gone, f"everything of {namespace}/{name} to be gone", timeout=STEP_TIMEOUT)


def pod(stack: Stack, name: str, index: int = 0, namespace: str = "default") -> dict[str, Any]:
    return dict(
        json.loads(stack.kubectl("get", "pod", f"{name}-{index}", "-n", namespace, "-o", "json").stdout)
    )


def models_served(stack: Stack, name: str, namespace: str = "default") -> list[str]:
    raw = stack.kubectl("get", "--raw", f"/api/v1/namespaces/{namespace}/services/{name}:80/proxy/v1/models")
    return [entry["id"] for entry in json.loads(raw.stdout)["data"]]


def test_a_config_map_beside_its_workspace_is_applied_and_mounted(cloud: Stack) -> None:
    path = HERE / "v0.12.0" / "kaito_workspace_custom_config.yaml"
    name = workspace_of(path)["metadata"]["name"]
    apply_file(cloud, path)
    wait_ready(cloud, name)
    spec = pod(cloud, name)["spec"]
    assert {
        "name": "config-volume",
        "configMap": {"name": "ds-inference-params", "defaultMode": 420},
    } in spec["volumes"]
    assert "--kaito-config-file=/mnt/config/inference_config.yaml" in spec["containers"][0]["command"]
    delete_and_wait(cloud, name)


def test_adapters_through_kaitoctl_apply_are_pulled_and_listed(cloud: Stack) -> None:
    path = HERE / "v0.12.0" / "kaito_workspace_phi_3_with_adapters.yaml"
    name = workspace_of(path)["metadata"]["name"]
    applied = cloud.kaitoctl("workspace", "apply", "-f", str(path))
    assert "applied: workflow" in applied.stdout
    wait_ready(cloud, name)
    spec = pod(cloud, name)["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["puller-phi-3-adapter"]
    assert models_served(cloud, name) == ["phi-3-mini-128k-instruct", "phi-3-adapter"]
    delete_and_wait(cloud, name)


def test_kaitoctl_apply_applies_the_files_config_map_first(cloud: Stack) -> None:
    path = HERE / "v0.12.0" / "kaito_workspace_tool_calling.yaml"
    name = workspace_of(path)["metadata"]["name"]
    applied = cloud.kaitoctl("workspace", "apply", "-f", str(path)).stdout
    assert "configmap default/tc-inference-params applied" in applied
    config_map = json.loads(cloud.kubectl("get", "configmap", "tc-inference-params", "-o", "json").stdout)
    assert "tool-call-parser: phi4_mini_json" in config_map["data"]["inference_config.yaml"]
    wait_ready(cloud, name)
    delete_and_wait(cloud, name)


def test_a_v03_llama2_preset_and_a_two_node_model(cloud: Stack) -> None:
    llama = HERE / "v0.3.2" / "kaito_workspace_llama2_7b.yaml"
    gpt = HERE / "v0.12.0" / "kaito_workspace_gpt_oss_20b.yaml"
    for path in (llama, gpt):
        apply_file(cloud, path)
    wait_ready(cloud, "workspace-llama-2-7b")
    assert pod(cloud, "workspace-llama-2-7b")["spec"]["containers"][0]["image"] == "<YOUR IMAGE URL>"
    workspace = wait_ready(cloud, "workspace-gpt-oss-20b")
    assert workspace["status"]["state"] == "Ready"
    nodes = {pod(cloud, "workspace-gpt-oss-20b", i)["spec"]["nodeName"] for i in (0, 1)}
    assert len(nodes) == 2, "gpt-oss-20b (25.6Gi) spreads over two 24Gi A10 nodes"
    for name in ("workspace-llama-2-7b", "workspace-gpt-oss-20b"):
        delete_and_wait(cloud, name)


def test_count_replicas_of_a_one_node_model_on_count_nodes(cloud: Stack) -> None:
    manifest = workspace_of(HERE / "v0.12.0" / "kaito_workspace_phi_4_mini.yaml")
    manifest["metadata"]["name"] = "phi-4-mini-twice"
    manifest["resource"]["count"] = 2
    cloud.apply(manifest)
    wait_ready(cloud, "phi-4-mini-twice")
    first, second = (pod(cloud, "phi-4-mini-twice", i) for i in (0, 1))
    assert first["spec"]["nodeName"] != second["spec"]["nodeName"]
    assert "--pipeline-parallel-size=1" in first["spec"]["containers"][0]["command"]
    delete_and_wait(cloud, "phi-4-mini-twice")


def byo_node(name: str, apps: str) -> dict[str, Any]:
    """An existing GPU node with GPU Feature Discovery's labels, as a BYO cluster has them."""
    capacity = {"cpu": "24", "memory": "220Gi", "pods": "110", "nvidia.com/gpu": "2"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "annotations": {KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1]},
            "labels": {"apps": apps, "kubernetes.io/hostname": name, "type": "kwok",
                       "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "2",
                       "nvidia.com/gpu.memory": "81920"},
        },
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }  # fmt: skip


def node_ready(stack: Stack, name: str) -> None:
    def is_ready() -> bool:
        done = stack.kubectl("get", "node", name, "-o", "json", check=False)
        if done.returncode != 0:
            return False
        conditions = json.loads(done.stdout).get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait_for(is_ready, f"node {name} Ready", timeout=60)


def test_byo_nodes_serve_without_a_node_pool(cloud: Stack) -> None:
    path = HERE / "v0.12.0" / "kaito_workspace_accelerator.yaml"
    workspace = workspace_of(path)
    name, apps = workspace["metadata"]["name"], workspace["resource"]["labelSelector"]["matchLabels"]["apps"]
    cloud.apply(byo_node("byo-gpu-0", apps))
    node_ready(cloud, "byo-gpu-0")
    puts_before = len(cloud.requests("agentPools.put"))
    try:
        apply_file(cloud, path)
        wait_ready(cloud, name)
        assert pod(cloud, name)["spec"]["nodeName"] == "byo-gpu-0"
        assert len(cloud.requests("agentPools.put")) == puts_before, "BYO creates no node pool"
        delete_and_wait(cloud, name)
    finally:
        cloud.kubectl("delete", "node", "byo-gpu-0", "--wait=false", check=False)


def test_a_mig_partition_on_byo_nodes_gets_one_slice(cloud: Stack) -> None:
    """The template of KAITO's MIG InferenceSet example, as a Workspace: one 2g.24gb slice per replica."""
    manifest = workspace_of(HERE / "v0.12.0" / "kaito_workspace_accelerator.yaml")
    manifest["metadata"]["name"] = "phi-4-mini-mig"
    manifest["resource"] = {"labelSelector": {"matchLabels": {"apps": "mig"}},
                            "partition": {"mode": "mig", "profile": "2g.24gb"}}  # fmt: skip
    manifest["inference"] = {"preset": {"name": "phi-4-mini-instruct"}}
    node = byo_node("byo-mig-0", "mig")
    node["status"]["capacity"] = {
        "cpu": "24",
        "memory": "220Gi",
        "pods": "110",
        "nvidia.com/mig-2g.24gb": "3",
    }
    node["status"]["allocatable"] = dict(node["status"]["capacity"])
    cloud.apply(node)
    node_ready(cloud, "byo-mig-0")
    try:
        cloud.apply(manifest)
        wait_ready(cloud, "phi-4-mini-mig")
        container = pod(cloud, "phi-4-mini-mig")["spec"]["containers"][0]
        assert container["resources"]["limits"] == {"nvidia.com/mig-2g.24gb": "1"}
        delete_and_wait(cloud, "phi-4-mini-mig")
    finally:
        cloud.kubectl("delete", "node", "byo-mig-0", "--wait=false", check=False)


HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "unknown field": ({"resource": {"instanceType": "Standard_NC24ads_A100_v4", "typo": 1}}, "unknown field"),
    "wrong type": ({"resource": {"count": "two"}}, "resource.count"),
    "spec nesting": ({"spec": {"resource": {}}}, 'unknown field "spec"'),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_manifests_through_kubectl_apply_are_refused_and_create_nothing(
    cloud: Stack, case: str
) -> None:
    body, phrase = HOSTILE[case]
    manifest = {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": {"name": "hostile"},
                "inference": {"preset": {"name": "phi-4"}}, **body}  # fmt: skip
    puts_before = len(cloud.requests("agentPools.put"))
    done = cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest), check=False)
    assert done.returncode != 0 and phrase in done.stderr and "Traceback" not in done.stderr
    assert cloud.workspace("hostile") is None
    assert len(cloud.requests("agentPools.put")) == puts_before


def test_a_semantically_invalid_manifest_through_kubectl_is_failed_with_the_reason(cloud: Stack) -> None:
    manifest = workspace_of(HERE / "v0.12.0" / "kaito_workspace_phi_4.yaml")
    manifest["metadata"]["name"] = "hostile-in"
    manifest["resource"]["labelSelector"] = {
        "matchExpressions": [{"key": "a", "operator": "In", "values": ["red", "blue"]}]
    }
    puts_before = len(cloud.requests("agentPools.put"))
    cloud.apply(manifest)
    refused = wait_for(lambda: condition(cloud.workspace("hostile-in"), "WorkspaceSucceeded"), "a refusal")
    assert refused["reason"] == "WorkspaceInvalid" and "In with 2 values" in refused["message"]
    assert len(cloud.requests("agentPools.put")) == puts_before
    cloud.kubectl("delete", "workspace", "hostile-in", "--timeout=60s")


def test_a_config_map_kaito_would_refuse_fails_the_workspace_before_any_pool(cloud: Stack) -> None:
    """kubectl applies the ConfigMap and the Workspace; the workflow reads the ConfigMap as KAITO's webhook
    does and refuses before it asks Azure for anything."""
    text = (HERE / "v0.12.0" / "kaito_workspace_custom_config.yaml").read_text()
    text = text.replace("max-model-len: 131072", "max-model-len: 200000")
    text = text.replace("name: workspace-deepseek-r1-distill-qwen-14b", "name: too-long-context")
    text = text.replace("name: ds-inference-params", "name: too-long-params")
    text = text.replace('config: "ds-inference-params"', 'config: "too-long-params"')
    puts_before = len(cloud.requests("agentPools.put"))
    cloud.kubectl("apply", "-f", "-", stdin=text)

    def failed() -> dict[str, Any] | None:
        succeeded = condition(cloud.workspace("too-long-context"), "WorkspaceSucceeded")
        return succeeded if succeeded and succeeded["status"] == "False" else None

    refused = wait_for(
        failed,
        "too-long-context to fail",
        timeout=STEP_TIMEOUT,
        explain=lambda: cloud.explain("too-long-context"),
    )
    assert (
        "vllm.max-model-len 200000 exceeds deepseek-r1-distill-qwen-14b's context window of 131072"
        in (refused["message"])
    )
    assert len(cloud.requests("agentPools.put")) == puts_before, "nothing was asked of Azure"
    cloud.kubectl("delete", "workspace", "too-long-context", "--timeout=60s")
    cloud.kubectl("delete", "configmap", "too-long-params")


def every_workspace_file() -> list[Path]:
    return [
        path
        for path in sorted(HERE.glob("v*/*.yaml"))
        if {d["kind"] for d in documents(path)} <= {"Workspace", "ConfigMap", "Secret"}
    ]


@pytest.mark.long
def test_every_example_workspace_at_once_reaches_ready(cloud: Stack) -> None:
    files = every_workspace_file()
    byo = [p for p in files if not workspace_of(p)["resource"].get("instanceType")]
    placed: list[tuple[str, str]] = []
    for index, path in enumerate(files):
        namespace = f"ex{index}-{path.parent.name.replace('.', '')}"
        if path in byo:
            apps = workspace_of(path)["resource"]["labelSelector"]["matchLabels"]["apps"]
            cloud.apply(byo_node(f"byo-{namespace}", apps))
            node_ready(cloud, f"byo-{namespace}")
        apply_file(cloud, path, namespace)
        placed.append((namespace, workspace_of(path)["metadata"]["name"]))
    for namespace, name in placed:
        wait_ready(cloud, name, namespace)
    print(f"\n{len(placed)} example workspaces Ready at once")
    for namespace, name in placed:
        cloud.kubectl("delete", "workspace", name, "-n", namespace, "--wait=false")
    for namespace, name in placed:
        wait_for(
            lambda: cloud.kubectl("get", "workspace", name, "-n", namespace, check=False).returncode != 0,  # noqa: B023
            f"{namespace}/{name} deleted", timeout=STEP_TIMEOUT * 2,
        )  # fmt: skip
