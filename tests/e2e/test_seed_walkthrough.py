"""The seed walkthrough on the local cloud: kubectl apply → GPU pool → nodes → model → answer → delete.

Everything real: the Temporal dev server, the Go-built control plane, the Azure emulator spoken to by
the Azure SDK, the worker and the kopf controllers as separate processes.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, load_example
from tests.e2e.conftest import STEP_TIMEOUT, Stack, condition, example
from tests.waiting import wait_for
from workflows.naming import agent_pool_name

pytestmark = pytest.mark.controlplane

EXAMPLES = {
    # manifest, expected GPUs per node
    "workspace-falcon-7b.yaml": 2,
    "workspace-phi-3-mini.yaml": 1,
    "workspace-falcon-40b.yaml": 4,
}


def ready(stack: Stack, name: str) -> dict[str, Any] | None:
    workspace = stack.workspace(name)
    succeeded = condition(workspace, "WorkspaceSucceeded")
    return workspace if succeeded and succeeded["status"] == "True" else None


def printed_columns(table: str) -> dict[str, str]:
    """kubectl's table cut at the header's column starts, so an empty cell stays empty."""
    header, row = table.splitlines()[:2]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    bounds = [*starts[1:], None]
    return {header[a:b].strip(): row[a:b].strip() for a, b in zip(starts, bounds, strict=True)}


def gone(stack: Stack, name: str) -> bool:
    pool = agent_pool_name("default", name)
    nodes = stack.kubectl("get", "nodes", "-l", f"kubernetes.azure.com/agentpool={pool}", "-o", "name").stdout
    objects = stack.kubectl(
        "get", "statefulsets,services,pods", "-l", f"kaito.sh/workspace={name}", "-o", "name"
    )
    return (
        stack.workspace(name) is None
        and not nodes.strip()
        and not objects.stdout.strip()
        and all(p["name"] != pool for p in stack.gpu_pools())
    )


@pytest.mark.parametrize("manifest", sorted(EXAMPLES))
def test_example_goes_from_kubectl_apply_to_an_answer_and_back_to_nothing(
    stack: Stack, manifest: str
) -> None:
    name = load_example(manifest)["metadata"]["name"]  # type: ignore[index]
    stack.kubectl("apply", "-f", str(ROOT / "examples" / manifest))
    workspace = wait_for(
        lambda: ready(stack, name),
        f"{name} WorkspaceSucceeded=True",
        timeout=180,
        explain=lambda: stack.explain(name),
    )

    row = printed_columns(stack.kubectl("get", "workspace", name).stdout)
    for column in ("INSTANCE", "RESOURCEREADY", "INFERENCEREADY", "JOBSTARTED", "WORKSPACESUCCEEDED", "AGE"):
        assert column in row
    assert (row["RESOURCEREADY"], row["INFERENCEREADY"], row["WORKSPACESUCCEEDED"]) == (
        "True",
        "True",
        "True",
    )
    assert row["JOBSTARTED"] == "" and row["STATE"] == "Ready"
    assert workspace["status"]["state"] == "Ready"

    pool = agent_pool_name("default", name)
    nodes = json.loads(
        stack.kubectl("get", "nodes", "-l", f"kubernetes.azure.com/agentpool={pool}", "-o", "json").stdout
    )["items"]
    assert len(nodes) == 1
    node = nodes[0]
    assert node["metadata"]["name"].startswith(f"aks-{pool}-")
    assert node["status"]["capacity"]["nvidia.com/gpu"] == str(EXAMPLES[manifest])
    assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in node["spec"]["taints"]
    pod = json.loads(stack.kubectl("get", "pod", f"{name}-0", "-o", "json").stdout)
    assert pod["spec"]["nodeName"] == node["metadata"]["name"]
    assert pod["status"]["phase"] == "Running"

    answer = stack.kaitoctl("workspace", "chat", name, "Say hello.").stdout
    assert "stand-in" in answer and "Say hello." in answer

    stack.kubectl("delete", "workspace", name, "--timeout=120s")
    wait_for(lambda: gone(stack, name), f"everything of {name} to be gone", timeout=STEP_TIMEOUT)
    described = stack.temporal(
        "workflow", "describe", "--workflow-id", f"workspace/default/{name}", "-o", "json"
    )
    info = json.loads(described.stdout)["workflowExecutionInfo"]
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"


def test_invalid_workspace_gets_the_validate_message_and_nothing_is_created(
    stack: Stack, tmp_path: Path
) -> None:
    manifest = example("workspace-falcon-40b.yaml", name="too-small")
    manifest["resource"]["instanceType"] = "Standard_NC6s_v3"
    path = tmp_path / "too-small.yaml"
    path.write_text(yaml.safe_dump(manifest))
    puts_before = len(stack.requests("agentPools.put"))

    stack.kubectl("apply", "-f", str(path))
    refused = wait_for(
        lambda: condition(stack.workspace("too-small"), "WorkspaceSucceeded"),
        "a WorkspaceSucceeded condition",
        timeout=STEP_TIMEOUT,
    )
    validate = stack.kaitoctl("workspace", "validate", "-f", str(path), check=False)
    assert validate.returncode == 2
    assert refused["status"] == "False" and refused["reason"] == "WorkspaceInvalid"
    expected = validate.stderr.removeprefix("error: ").strip()
    assert refused["message"] == expected
    assert "Standard_NC48ads_A100_v4 fits" in refused["message"]
    assert len(stack.requests("agentPools.put")) == puts_before, "nothing was asked of Azure"
    assert all(p["name"] != agent_pool_name("default", "too-small") for p in stack.gpu_pools())
    stack.kubectl("delete", "workspace", "too-small", "--timeout=60s")


def test_changing_an_immutable_field_is_refused_and_serving_goes_on(stack: Stack) -> None:
    manifest = example("workspace-phi-3-mini.yaml", name="immutable")
    stack.apply(manifest)
    wait_for(
        lambda: ready(stack, "immutable"), "immutable to be Ready", timeout=180,
        explain=lambda: stack.explain("immutable"),
    )  # fmt: skip
    before = json.loads(stack.kubectl("get", "statefulset", "immutable", "-o", "json").stdout)

    manifest["resource"]["instanceType"] = "Standard_NC24ads_A100_v4"
    stack.apply(manifest)

    def refused() -> dict[str, Any] | None:
        found = condition(stack.workspace("immutable"), "WorkspaceSucceeded")
        return found if found and found["reason"] == "SpecUpdateRejected" else None

    message = wait_for(refused, "the update to be refused", timeout=STEP_TIMEOUT)["message"]
    assert "resource.instanceType: immutable" in message
    after = json.loads(stack.kubectl("get", "statefulset", "immutable", "-o", "json").stdout)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    pool = next(p for p in stack.gpu_pools() if p["name"] == agent_pool_name("default", "immutable"))
    assert pool["vm_size"] == "Standard_NV36ads_A10_v5"
    assert "stand-in" in stack.kaitoctl("workspace", "chat", "immutable", "still there?").stdout
    stack.kubectl("delete", "workspace", "immutable", "--timeout=120s")
    wait_for(lambda: gone(stack, "immutable"), "everything of immutable to be gone", timeout=STEP_TIMEOUT)


def test_temporal_cli_door_creates_the_workspace_object_and_kaitoctl_deletes_it(
    stack: Stack, tmp_path: Path
) -> None:
    manifest = example("workspace-phi-3-mini.yaml", name="via-temporal")
    input_file = tmp_path / "workspace.json"
    input_file.write_text(json.dumps(manifest))
    stack.temporal(
        "workflow", "start", "--type", "WorkspaceWorkflow", "--task-queue", "kaito-provisioning",
        "--workflow-id", "workspace/default/via-temporal", "--input-file", str(input_file),
    )  # fmt: skip
    workspace = wait_for(lambda: ready(stack, "via-temporal"), "via-temporal to be Ready", timeout=180)
    assert workspace["resource"]["instanceType"] == "Standard_NV36ads_A10_v5"
    listed = stack.temporal("workflow", "list", "--query", 'KaitoWorkspace="via-temporal"').stdout
    assert listed.count("workspace/default/via-temporal") == 1, "the controller found the running workflow"

    stack.kaitoctl("workspace", "delete", "via-temporal")
    wait_for(
        lambda: gone(stack, "via-temporal"), "everything of via-temporal to be gone", timeout=STEP_TIMEOUT
    )


def test_temporal_ui_filters_by_workspace_and_shows_its_phase(stack: Stack, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed; scripts/install.sh installs Debian's chromium")
    stack.apply(example("workspace-falcon-7b.yaml", name="in-the-ui"))
    wait_for(lambda: ready(stack, "in-the-ui"), "in-the-ui to be Ready", timeout=180)

    query = 'KaitoWorkspace="in-the-ui" AND KaitoPhase="Ready"'
    from urllib.parse import quote

    url = f"{stack.info.temporal_ui}/namespaces/default/workflows?query={quote(query)}"
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    screenshot = artifacts / "temporal-ui-workspace.png"
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1400,900", "--virtual-time-budget=15000",
    ]  # fmt: skip

    def page() -> str | None:
        profile = tmp_path / "profile"
        shutil.rmtree(profile, ignore_errors=True)
        dom = stack.run(chromium, *flags, f"--user-data-dir={profile}", "--dump-dom", url, check=False).stdout
        return dom if "workspace/default/in-the-ui" in dom else None

    dom = wait_for(page, "the UI to list the workflow filtered by KaitoWorkspace and KaitoPhase", timeout=90)
    assert "WorkspaceWorkflow" in dom and "Running" in dom
    stack.run(chromium, *flags, f"--user-data-dir={tmp_path / 'shot'}", f"--screenshot={screenshot}", url)
    assert screenshot.stat().st_size > 10_000
    stack.kubectl("delete", "workspace", "in-the-ui", "--timeout=120s")
