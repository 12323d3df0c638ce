"""The InferenceSet model and its rules: KAITO's v0.12.0 examples whose models are in our catalog are
valid unchanged; every refusal names the InferenceSet field and says why; each replica's Workspace is
what KAITO's controller builds from the template."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from kaitoctl.manifest_check import check_manifest
from tests.inferenceset.conftest import INFERENCESET_EXAMPLES, KAITO_EXAMPLES, kaito_inferenceset
from workflows.inferenceset_spec import (
    LABEL_CREATED_BY,
    MAX_INFERENCESET_NAME,
    parse_inferenceset,
    replica_workspace,
    selector_of,
    validate_inferenceset,
)
from workflows.workspace_validation import WorkspaceInvalid

EXAMPLES = [p.name for p in INFERENCESET_EXAMPLES]


def problems(manifest: dict[str, Any]) -> list[str]:
    return [str(p) for p in validate_inferenceset(parse_inferenceset(manifest)).errors]


@pytest.mark.parametrize("file", EXAMPLES)
def test_kaito_examples_parse_unchanged(file: str) -> None:
    """All five, the MIG ones (no instanceType) on existing nodes."""
    iset = parse_inferenceset(kaito_inferenceset(file))
    assert iset.replicas >= 1 and iset.spec.label_selector is not None
    report = validate_inferenceset(iset)
    assert report.ok, report.errors
    assert any("scaledobject.kaito.sh/metricName" in w and "not acted on" in w for w in report.warnings)


@pytest.mark.parametrize("file", EXAMPLES)
def test_kaitoctl_validate_takes_an_inferenceset_file(file: str) -> None:
    checked = check_manifest(KAITO_EXAMPLES / file)
    ((iset, plan),) = checked.sets
    assert iset.name == kaito_inferenceset(file)["metadata"]["name"] and not checked.plans
    assert plan.model == iset.spec.template.inference.preset.name  # type: ignore[union-attr]
    assert any(line.startswith(f"inferenceset default/{iset.name}: ") for line in checked.summary())


def test_kaitoctl_validate_refuses_a_bad_set_with_its_field(tmp_path: Path) -> None:
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["spec"]["replicas"] = -1
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(manifest))
    with pytest.raises(WorkspaceInvalid, match=r"spec.replicas: -1 must be non-negative"):
        check_manifest(path)


def test_replica_workspace_is_the_template_with_the_sets_selector() -> None:
    manifest = kaito_inferenceset("kaito_inferenceset_mistral_7b-instruct.yaml")
    manifest["spec"]["template"]["metadata"] = {
        "labels": {"team": "a"},
        "annotations": {"kaito.sh/runtime": "vllm"},
    }
    iset = parse_inferenceset(manifest)
    ws = replica_workspace(iset, "mistral-7b-instruct-b2c4d")
    assert ws.metadata.labels == {"team": "a", LABEL_CREATED_BY: "mistral-7b-instruct"}
    assert ws.annotations == {"kaito.sh/runtime": "vllm", "kaito.sh/scale-to-zero": "false"}
    assert ws.match_labels == {"apps": "mistral-7b-instruct"}
    assert ws.resource.instance_type == "Standard_NC24ads_A100_v4" and ws.preset_name == "mistral-7b-instruct"
    assert selector_of(iset.name) == "inferenceset.kaito.sh/created-by=mistral-7b-instruct"


def test_replicas_default_to_one_and_zero_is_allowed() -> None:
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    del manifest["spec"]["replicas"]
    assert parse_inferenceset(manifest).replicas == 1
    manifest["spec"]["replicas"] = 0
    assert not problems(manifest) and parse_inferenceset(manifest).replicas == 0


def test_refusals_name_the_inferenceset_field() -> None:
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["spec"]["template"]["inference"]["preset"]["name"] = "phi-5"
    manifest["spec"]["labelSelector"] = {}
    manifest["spec"]["nodeCountLimit"] = -2
    found = problems(manifest)
    assert any(p.startswith("spec.labelSelector: required") for p in found), found
    assert any(p.startswith("spec.nodeCountLimit: -2 must be non-negative") for p in found), found
    assert any(p.startswith("spec.template.inference.preset.name:") and "phi-5" in p for p in found), found


def test_a_name_leaves_room_for_the_replica_suffix() -> None:
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["metadata"]["name"] = "a" * (MAX_INFERENCESET_NAME + 1)
    (found,) = problems(manifest)
    assert found.startswith(f"metadata.name: '{'a' * 20}") and f"at most {MAX_INFERENCESET_NAME}" in found


def test_an_unknown_field_or_kind_is_refused() -> None:
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["spec"]["replica"] = 2
    with pytest.raises(WorkspaceInvalid, match=r"spec.replica: unknown field"):
        parse_inferenceset(manifest)
    with pytest.raises(WorkspaceInvalid, match=r"kind: expected InferenceSet, got 'Workspace'"):
        parse_inferenceset({**manifest, "kind": "Workspace"})


def test_replicas_opt_out_of_the_idle_sweep_and_a_template_saying_otherwise_is_warned() -> None:
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["spec"]["template"]["metadata"] = {"annotations": {"kaito.sh/scale-to-zero": "true"}}
    iset = parse_inferenceset(manifest)
    assert replica_workspace(iset, "phi-4-mini-bcdfg").annotations["kaito.sh/scale-to-zero"] == "false"
    warnings = validate_inferenceset(iset).warnings
    assert any("kaito.sh/scale-to-zero] is set to false on every replica" in w for w in warnings), warnings
