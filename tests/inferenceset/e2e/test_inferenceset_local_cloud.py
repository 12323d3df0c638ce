"""An InferenceSet on the local cloud, from `kubectl apply` of KAITO's example: an invalid one is refused
in its status and starts nothing; two Workspaces Ready;
`kubectl scale --replicas=0` suspends both (pools at 0 nodes, Workspaces kept); scaling to 1 resumes
one of the same Workspaces and to 2 the other; delete leaves no Workspace, pool, node, pod or workflow."""

import base64
import json
from functools import partial
from typing import Any

import pytest

from tests.e2e.conftest import STEP_TIMEOUT, Stack, condition
from tests.e2e.test_seed_walkthrough import gone
from tests.examples.test_examples_on_localcloud import byo_node, node_ready
from tests.inferenceset.conftest import KAITO_EXAMPLES, kaito_inferenceset
from tests.waiting import wait_for
from workflows.inferenceset_spec import LABEL_CREATED_BY
from workflows.naming import agent_pool_name

pytestmark = pytest.mark.controlplane

SET = "phi-4-mini"


def replicas(stack: Stack) -> dict[str, str | None]:
    """Each replica Workspace's KAITO state, by name."""
    listed = stack.kubectl("get", "workspaces", "-l", f"{LABEL_CREATED_BY}={SET}", "-o", "json").stdout
    return {w["metadata"]["name"]: (w.get("status") or {}).get("state") for w in json.loads(listed)["items"]}


def states(stack: Stack, *wanted: str) -> dict[str, str | None] | None:
    found = replicas(stack)
    return found if sorted(s or "" for s in found.values()) == sorted(wanted) else None


def inferenceset(stack: Stack) -> dict[str, Any] | None:
    done = stack.kubectl("get", "inferenceset", SET, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def pool_count(stack: Stack, name: str) -> int | None:
    pool = agent_pool_name("default", name)
    return next((int(p["count"]) for p in stack.gpu_pools() if p["name"] == pool), None)


def explain(stack: Stack) -> str:
    listed = stack.kubectl("get", "inferencesets,workspaces", "-o", "wide", check=False).stdout
    shown = stack.kubectl("get", "inferenceset", SET, "-o", "jsonpath={.status}", check=False).stdout
    return f"{listed}\nstatus: {shown}"


def test_an_invalid_inferenceset_is_refused_in_its_status(stack: Stack) -> None:
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["metadata"]["name"] = "refused"
    manifest["spec"]["template"]["inference"]["preset"]["name"] = "phi-5"
    stack.apply(manifest)

    def refusal() -> dict[str, Any] | None:
        done = stack.kubectl("get", "inferenceset", "refused", "-o", "json")
        found = condition(json.loads(done.stdout), "InferenceSetReady")
        return found if found and found["reason"] == "InvalidSpec" else None

    refused = wait_for(refusal, "the refusal in the status", timeout=STEP_TIMEOUT)
    assert refused["status"] == "False" and "spec.template.inference.preset.name" in refused["message"]
    assert "phi-5" in refused["message"]
    listed = stack.kubectl("get", "workspaces", "-l", f"{LABEL_CREATED_BY}=refused", "-o", "name").stdout
    assert not listed.strip()
    stack.kubectl("delete", "inferenceset", "refused", "--timeout=60s")


def test_inferenceset_scales_to_zero_and_back_and_deletes_to_nothing(stack: Stack) -> None:
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")  # KAITO's, unchanged but replicas
    manifest["spec"]["replicas"] = 2
    stack.apply(manifest)
    see = partial(explain, stack)
    up = wait_for(
        lambda: states(stack, "Ready", "Ready"), "two Ready replicas", timeout=2 * STEP_TIMEOUT, explain=see
    )
    names = sorted(up)
    shown = wait_for(
        lambda: (s := inferenceset(stack)) and (s.get("status") or {}).get("readyReplicas") == 2 and s,
        "readyReplicas 2", timeout=STEP_TIMEOUT, explain=see,
    )  # fmt: skip
    assert condition(shown, "InferenceSetReady")["status"] == "True"  # type: ignore[index]
    ignored = condition(shown, "AutoscalingAnnotationsIgnored")
    assert (
        ignored and ignored["status"] == "True" and "scaledobject.kaito.sh/metricName" in ignored["message"]
    )
    table = stack.kubectl("get", "inferenceset", SET).stdout.splitlines()
    assert table[0].split() == ["NAME", "REPLICAS", "READYREPLICAS", "AGE"] and table[1].split()[:3] == [
        SET,
        "2",
        "2",
    ]

    stack.kubectl("scale", "inferenceset", SET, "--replicas=0")
    down = wait_for(
        lambda: states(stack, "Suspended", "Suspended"), "both replicas suspended", timeout=2 * STEP_TIMEOUT,
        explain=see,
    )  # fmt: skip
    assert sorted(down) == names, "suspended, not deleted"
    assert all(pool_count(stack, n) == 0 for n in names), "each pool kept, at 0 nodes"
    pods = f"kaito.sh/workspace in ({','.join(names)})"
    wait_for(
        lambda: not stack.kubectl("get", "pods", "-l", pods, "-o", "name").stdout,
        "the replicas' pods to go", timeout=STEP_TIMEOUT,
    )  # fmt: skip

    stack.kubectl("scale", "inferenceset", SET, "--replicas=1")
    one = wait_for(
        lambda: states(stack, "Ready", "Suspended"), "one replica resumed", timeout=STEP_TIMEOUT, explain=see
    )
    assert sorted(one) == names, "the same Workspace resumed, no new one"
    stack.kubectl("scale", "inferenceset", SET, "--replicas=2")
    both = wait_for(
        lambda: states(stack, "Ready", "Ready"), "both resumed", timeout=STEP_TIMEOUT, explain=see
    )
    assert sorted(both) == names

    stack.kubectl("delete", "inferenceset", SET, "--wait=false")
    wait_for(
        lambda: inferenceset(stack) is None and all(gone(stack, n) for n in names),
        "the InferenceSet and every replica to go", timeout=2 * STEP_TIMEOUT, explain=see,
    )  # fmt: skip
    running = stack.temporal(
        "workflow", "list", "--query", 'ExecutionStatus = "Running"', "-o", "json"
    ).stdout
    ids = [w["execution"]["workflowId"] for w in json.loads(running or "[]")]
    assert not [i for i in ids if SET in i], ids


def set_ready(stack: Stack, name: str, count: int) -> dict[str, Any] | None:
    """The InferenceSet once InferenceSetReady is True with `count` ready replicas."""
    done = stack.kubectl("get", "inferenceset", name, "-o", "json", check=False)
    shown = json.loads(done.stdout) if done.returncode == 0 else {}
    ok = condition(shown, "InferenceSetReady")
    return shown if ok and ok["status"] == "True" and shown["status"]["readyReplicas"] == count else None


def delete_set_to_nothing(stack: Stack, name: str, count: int) -> None:
    """Its `count` replica Workspaces exist; after `kubectl delete`, the set and every replica are gone."""
    listed = stack.kubectl("get", "workspaces", "-l", f"{LABEL_CREATED_BY}={name}", "-o", "json").stdout
    names = [w["metadata"]["name"] for w in json.loads(listed)["items"]]
    assert len(names) == count
    stack.kubectl("delete", "inferenceset", name, "--wait=false")
    wait_for(
        lambda: stack.kubectl("get", "inferenceset", name, check=False).returncode != 0
        and all(gone(stack, n) for n in names),
        f"{name} and its replicas to go", timeout=count * STEP_TIMEOUT, explain=partial(explain, stack),
    )  # fmt: skip


def kaito_example_documents(file: str) -> str:
    """The example file as a user applies it: the one placeholder KAITO leaves, the HF token, filled in."""
    token = base64.b64encode(b"hf_not_a_real_token").decode()
    return (KAITO_EXAMPLES / file).read_text().replace("<base64-encoded-huggingface-token>", token)


# The two MIG examples have no instanceType: they run on existing labelled GPU nodes (BYO), below.
EXAMPLES_WITH_A_POOL = [
    "kaito_inferenceset_llama-3.1_8b_instruct.yaml",
    "kaito_inferenceset_mistral_7b-instruct.yaml",
    "kaito_inferenceset_phi_4_mini.yaml",
]


@pytest.mark.long
@pytest.mark.parametrize("file", EXAMPLES_WITH_A_POOL)
def test_kaito_example_reaches_ready_and_deletes_to_nothing(stack: Stack, file: str) -> None:
    manifest = kaito_inferenceset(file)
    name, count = manifest["metadata"]["name"], manifest["spec"]["replicas"]
    stack.kubectl("apply", "-f", "-", stdin=kaito_example_documents(file))

    wait_for(
        partial(set_ready, stack, name, count),
        f"{name}: {count} Ready replica(s)",
        timeout=count * STEP_TIMEOUT,
        explain=partial(explain, stack),
    )
    delete_set_to_nothing(stack, name, count)


MIG_EXAMPLES = {
    # Single strategy: GPU Feature Discovery shows each MIG slice as a whole nvidia.com/gpu.
    "kaito_inferenceset_mig_single_strategy.yaml": {"nvidia.com/gpu": "2"},
    # Mixed strategy: slices are their own resource, and the template asks for one 2g.24gb slice each.
    "kaito_inferenceset_mig_mixed_strategy.yaml": {"nvidia.com/gpu": "0", "nvidia.com/mig-2g.24gb": "3"},
}


@pytest.mark.long
@pytest.mark.parametrize("file", sorted(MIG_EXAMPLES))
def test_kaito_mig_example_reaches_ready_on_existing_nodes(stack: Stack, file: str) -> None:
    """KAITO's MIG InferenceSets, unchanged, on a node labelled as its selector says: no pool is created."""
    manifest = kaito_inferenceset(file)
    name, count = manifest["metadata"]["name"], manifest["spec"]["replicas"]
    node = byo_node(f"mig-{name}", apps="-")  # an A100 node as GPU Feature Discovery labels it
    node["metadata"]["labels"].pop("apps")
    node["metadata"]["labels"].update(manifest["spec"]["labelSelector"]["matchLabels"])
    node["status"]["capacity"].update(MIG_EXAMPLES[file])
    node["status"]["allocatable"] = dict(node["status"]["capacity"])
    stack.apply(node)
    node_ready(stack, node["metadata"]["name"])
    puts_before = len(stack.requests("agentPools.put"))
    try:
        stack.kubectl("apply", "-f", str(KAITO_EXAMPLES / file))
        wait_for(
            partial(set_ready, stack, name, count), f"{name}: {count} Ready replica(s)",
            timeout=count * STEP_TIMEOUT, explain=partial(explain, stack),
        )  # fmt: skip
        assert len(stack.requests("agentPools.put")) == puts_before, "existing nodes: no node pool"
        delete_set_to_nothing(stack, name, count)
    finally:
        stack.kubectl("delete", "node", node["metadata"]["name"], "--wait=false", check=False)
