"""KAITO's admission rules: each refusal names the field, the problem and the fix."""

import copy
from typing import Any

import pytest

from tests.conftest import EXAMPLES, load_example
from workflows.workspace_plan import build_plan
from workflows.workspace_validation import WorkspaceInvalid, check_update, parse_workspace, validate_workspace


def falcon7b() -> dict[str, Any]:
    return copy.deepcopy(load_example("workspace-falcon-7b.yaml"))


def falcon40b_on(instance_type: str) -> dict[str, Any]:
    manifest: dict[str, Any] = load_example("workspace-falcon-40b.yaml")
    manifest["resource"]["instanceType"] = instance_type
    return manifest


def errors_of(manifest: dict[str, Any]) -> list[str]:
    try:
        ws = parse_workspace(manifest)
    except WorkspaceInvalid as invalid:
        return [str(p) for p in invalid.problems]
    return [str(p) for p in validate_workspace(ws).errors]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_shared_examples_parse_and_pass(path: Any) -> None:
    report = validate_workspace(parse_workspace(load_example(path.name)))
    assert report.ok and not report.warnings


def test_v1alpha1_and_v1beta1_parse_unchanged_with_fields_at_top_level() -> None:
    ws = parse_workspace(falcon7b())
    assert ws.api_version == "kaito.sh/v1alpha1"
    assert ws.resource.instance_type == "Standard_NC12s_v3"
    assert ws.match_labels == {"apps": "falcon-7b"}
    assert ws.namespace == "default"
    dumped = ws.model_dump(mode="json", exclude_none=True)
    assert dumped["resource"]["labelSelector"] == {"matchLabels": {"apps": "falcon-7b"}}
    assert parse_workspace(dumped) == ws


def test_too_small_sku_says_what_is_needed_what_is_offered_and_what_fits() -> None:
    manifest = falcon40b_on("Standard_NC6s_v3")
    expected = [
        "resource.instanceType: falcon-40b needs 2 GPUs and 90Gi on one node, as it cannot be split "
        "across nodes; one Standard_NC6s_v3 node has 1 GPU and 16Gi; "
        "Standard_NC48ads_A100_v4 fits on one node"
    ]
    assert errors_of(manifest) == expected
    manifest["resource"]["count"] = 1  # the same words whatever the count: the limit is one node
    assert errors_of(manifest) == expected


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda m: m["inference"]["preset"].update(name="falcon-8b"),
            "inference.preset.name: unknown preset 'falcon-8b'; did you mean falcon-7b?",
        ),
        (
            lambda m: m["metadata"].update(name="Workspace_Falcon"),
            "metadata.name: 'Workspace_Falcon' is not a DNS-1123 label",
        ),
        (
            lambda m: m["metadata"].update(name="w" * 60),
            "metadata.name: '" + "w" * 60 + "' is 60 characters; at most 54",
        ),
        (lambda m: m.update(tuning={"method": "lora"}), "inference: set inference or tuning, but not both"),
        (
            lambda m: (m.pop("inference"), m.update(tuning={"method": "lora"})),
            "tuning: fine-tuning workspaces are not supported yet",
        ),
        (lambda m: m.pop("inference"), "inference: required: set inference.preset.name"),
        (
            lambda m: m["resource"].update(instanceType="Standard_B2s"),
            "resource.instanceType: Standard_B2s is not a GPU VM size; "
            "use an N-series size such as Standard_NV36ads_A10_v5",
        ),
        (lambda m: m["resource"].pop("labelSelector"), "resource.labelSelector: required"),
        (
            lambda m: m["resource"]["labelSelector"]["matchLabels"].update({"kaito.sh/workspace": "x"}),
            "resource.labelSelector.matchLabels[kaito.sh/workspace]: this key is reserved",
        ),
        (
            lambda m: m["resource"]["labelSelector"]["matchLabels"].update({"bad key!": "x"}),
            "resource.labelSelector.matchLabels[bad key!]: not a valid label key",
        ),
        (
            lambda m: m["resource"]["labelSelector"].update(
                matchExpressions=[{"key": "a", "operator": "Exists"}]
            ),
            "resource.labelSelector.matchExpressions[0]: operator 'Exists' is not supported",
        ),
        (lambda m: m["resource"].update(count=0), "resource.count: 0 is not a node count"),
        (lambda m: m["resource"].update(count="two"), "resource.count: Input should be a valid integer"),
        (
            lambda m: m["resource"].update(instancetype="Standard_NC12s_v3"),
            "resource.instancetype: unknown field",
        ),
        (lambda m: m.update(spec={}), "spec: KAITO Workspaces have no spec"),
        (
            lambda m: m.update(apiVersion="kaito.sh/v1"),
            "apiVersion: expected one of kaito.sh/v1alpha1, kaito.sh/v1beta1",
        ),
        (
            lambda m: m["inference"]["preset"].update(name="llama-3.1-8b-instruct"),
            "inference.preset.presetOptions.modelAccessSecret: llama-3.1-8b-instruct is gated",
        ),
        (
            lambda m: m["inference"].update(template={"spec": {}}),
            "inference: set inference.preset or inference.template, but not both",
        ),
        (
            lambda m: m["metadata"].update(annotations={"kaito.sh/node-image-family": "windows"}),
            "metadata.annotations[kaito.sh/node-image-family]: 'windows' is not a node image family",
        ),
        (
            lambda m: m["metadata"].update(annotations={"kaito.sh/runtime": "tgi"}),
            "metadata.annotations[kaito.sh/runtime]: 'tgi' is not a runtime",
        ),
    ],
)
def test_each_bad_input_gets_one_specific_error(mutate: Any, expected: str) -> None:
    manifest = falcon7b()
    mutate(manifest)
    errors = errors_of(manifest)
    assert len(errors) == 1, errors
    assert errors[0].startswith(expected), errors[0]


def test_unknown_n_series_is_accepted_with_a_warning() -> None:
    manifest = falcon7b()
    manifest["resource"]["instanceType"] = "Standard_NC8ads_Z900_v9"
    report = validate_workspace(parse_workspace(manifest))
    assert report.ok
    assert report.warnings and "not in the GPU catalog" in report.warnings[0]


def test_nd96asr_v4_is_in_the_catalog_and_gets_the_gpu_checks() -> None:
    manifest = falcon40b_on("Standard_ND96asr_v4")
    report = validate_workspace(parse_workspace(manifest))
    assert report.ok and not report.warnings
    manifest["inference"]["preset"] = {
        "name": "llama-3.3-70b-instruct",
        "presetOptions": {"modelAccessSecret": "hf"},
    }
    assert errors_of(manifest) == [
        "resource.instanceType: llama-3.3-70b-instruct needs 4 GPUs of at least 80Gi each and 320Gi; "
        "Standard_ND96asr_v4 has 8 GPUs and 320Gi per node, too little per GPU at any node count; "
        "Standard_NC96ads_A100_v4 fits on one node"
    ]


def test_kaitos_spelling_of_nd96asr_v4_is_checked_and_planned_as_the_azure_size() -> None:
    manifest = falcon40b_on("Standard_ND96asr_A100_v4")
    ws = parse_workspace(manifest)
    report = validate_workspace(ws)
    assert report.ok and report.warnings == [
        "resource.instanceType: Standard_ND96asr_A100_v4 is not an Azure VM size name; Azure calls this "
        "size Standard_ND96asr_v4, and the node pool is created as Standard_ND96asr_v4"
    ]
    plan = build_plan(ws)
    assert (plan.instance_type, plan.gpus_per_node, plan.node_count) == ("Standard_ND96asr_v4", 8, 1)
    manifest["inference"]["preset"] = {
        "name": "llama-3.3-70b-instruct",
        "presetOptions": {"modelAccessSecret": "hf"},
    }
    assert "Standard_ND96asr_v4 has 8 GPUs and 320Gi" in errors_of(manifest)[0]


def test_bypass_annotation_skips_gpu_checks_with_a_warning() -> None:
    manifest = falcon40b_on("Standard_NC6s_v3")
    manifest["metadata"]["annotations"] = {"kaito.sh/bypass-resource-checks": ""}
    report = validate_workspace(parse_workspace(manifest))
    assert report.ok and "GPU checks skipped" in report.warnings[0]


def test_multi_node_on_transformers_is_refused() -> None:
    manifest = falcon7b()
    manifest["resource"]["instanceType"] = "Standard_NC24ads_A100_v4"
    manifest["inference"]["preset"] = {
        "name": "llama-3.3-70b-instruct",
        "presetOptions": {"modelAccessSecret": "hf"},
    }
    assert validate_workspace(parse_workspace(manifest)).ok  # 4 nodes of 1 × A100 on vLLM
    manifest["metadata"]["annotations"] = {"kaito.sh/runtime": "transformers"}
    errors = [str(e) for e in validate_workspace(parse_workspace(manifest)).errors]
    assert any("does not run on transformers" in e for e in errors)


def test_immutable_fields_are_refused_on_update() -> None:
    old = parse_workspace(falcon7b())
    changed = falcon7b()
    changed["resource"]["instanceType"] = "Standard_NC24ads_A100_v4"
    changed["inference"]["preset"]["name"] = "falcon-7b-instruct"
    changed["resource"]["labelSelector"]["matchLabels"]["apps"] = "other"
    fields = [p.field for p in check_update(old, parse_workspace(changed))]
    assert fields == ["resource.instanceType", "resource.labelSelector", "inference.preset"]
    assert check_update(old, parse_workspace(falcon7b())) == []
