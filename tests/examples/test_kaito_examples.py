"""KAITO's own example manifests (v0.3.2 and v0.12.0) through `kaitoctl workspace validate`, unchanged.

Also what those examples exercise: `count`, a one-value `In`, adapters, the inference.config
ConfigMap, the catalog's context limits and deprecations, BYO, and the refusal of kinds we do not run.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from activities import workspace_objects as objects
from kaitoctl.loading import PARSERS, load_manifest
from kaitoctl.main import app
from kaitoctl.manifest_check import check_manifest
from presets.models import all_models, find_model
from workflows.byo_nodes import ByoNodesUnfit, check_byo_nodes
from workflows.inference_config import config_map_problems
from workflows.readiness import ready_gpu_nodes
from workflows.workspace_plan import build_plan
from workflows.workspace_validation import WorkspaceInvalid, parse_workspace, validate_workspace

HERE = Path(__file__).parent / "kaito"
FILES = sorted(HERE.glob("v*/*.yaml"))
runner = CliRunner()


def kinds(path: Path) -> set[str]:
    return {doc["kind"] for doc in yaml.safe_load_all(path.read_text()) if doc}


def validate(path: Path) -> Any:
    return runner.invoke(app, ["workspace", "validate", "-f", str(path)])


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_is_accepted_or_refused_by_kind(path: Path) -> None:
    result = validate(path)
    assert "Traceback" not in result.output
    if "MultiRoleInference" in kinds(path):
        assert result.exit_code == 2
        assert "MultiRoleInference (prefill/decode roles) is not supported yet" in result.output
    elif "InferenceSet" in kinds(path) and "InferenceSet" not in PARSERS:
        pytest.skip("InferenceSet parser not registered in this branch")
    else:
        assert result.exit_code == 0, result.output
        assert result.output.count("valid:") == len([d for d in yaml.safe_load_all(path.read_text()) if d])


def test_the_accept_counts() -> None:
    """The figures of issue 12: every Workspace file of both folders passes validate."""
    counts: dict[str, tuple[int, int]] = {}
    for version in ("v0.3.2", "v0.12.0"):
        files = sorted((HERE / version).glob("*.yaml"))
        accepted = sum(validate(f).exit_code == 0 for f in files)
        counts[version] = (accepted, len(files))
    print(f"\naccepted by kaitoctl workspace validate: {counts}")
    assert counts["v0.3.2"] == (19, 19)
    workspace_files = [
        f for f in (HERE / "v0.12.0").glob("*.yaml") if kinds(f) <= {"Workspace", "ConfigMap", "Secret"}
    ]
    assert len(workspace_files) == 30 and counts["v0.12.0"][0] >= 30


def test_refused_kinds_name_themselves(tmp_path: Path) -> None:
    rag = tmp_path / "rag.yaml"
    rag.write_text("apiVersion: kaito.sh/v1beta1\nkind: RAGEngine\nmetadata: {name: r}\n")
    result = validate(rag)
    assert result.exit_code == 2 and "RAGEngine is not supported yet" in result.output
    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    assert "kind 'Pod' is not one this tool applies" in validate(other).output


def plan_of(version: str, file: str) -> Any:
    checked = check_manifest(HERE / version / file)
    return checked.plans[0][1]


def test_count_on_a_one_node_model_is_count_replicas_on_count_nodes() -> None:
    manifest = load_manifest(HERE / "v0.12.0" / "kaito_workspace_phi_4_mini.yaml").raw_workspace()
    manifest["resource"]["count"] = 2
    plan = build_plan(parse_workspace(manifest))
    assert (plan.node_count, plan.replicas) == (2, 2)
    workload = objects.workload(plan)
    assert workload["spec"]["replicas"] == 2
    assert "--pipeline-parallel-size=1" in workload["spec"]["template"]["spec"]["containers"][0]["command"]


def test_a_multi_node_model_spreads_across_its_nodes() -> None:
    plan = plan_of("v0.12.0", "kaito_workspace_llama-3.3_70b_instruct.yaml")
    assert (plan.node_count, plan.replicas, plan.instance_type) == (2, None, "Standard_NC48ads_A100_v4")
    command = objects.workload(plan)["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--pipeline-parallel-size=2" in command and "--tensor-parallel-size=2" in command
    plan = plan_of("v0.12.0", "kaito_workspace_deepseek_r1.yaml")
    assert (plan.node_count, plan.replicas) == (6, None)


def test_too_few_nodes_for_a_multi_node_model_says_how_many() -> None:
    manifest = load_manifest(HERE / "v0.12.0" / "kaito_workspace_deepseek_r1.yaml").raw_workspace()
    manifest["resource"]["count"] = 2
    errors = [str(e) for e in validate_workspace(parse_workspace(manifest)).errors]
    assert errors == [
        "resource.count: deepseek-r1-0528 needs 1 GPU and 641.3Gi, which 2 × Standard_NC80adis_H100_v5 "
        "(4 GPUs and 376Gi on 2 nodes) cannot hold; set count to 4 or more"
    ]


def _with_expressions(expressions: list[dict[str, Any]]) -> dict[str, Any]:
    manifest = load_manifest(HERE / "v0.12.0" / "kaito_workspace_phi_4.yaml").raw_workspace()
    manifest["resource"]["labelSelector"] = {"matchExpressions": expressions}
    return manifest


def test_an_in_with_one_value_is_a_label_and_several_are_refused_saying_why() -> None:
    ws = parse_workspace(_with_expressions([{"key": "apps", "operator": "In", "values": ["phi-4"]}]))
    assert validate_workspace(ws).ok and build_plan(ws).match_labels == {"apps": "phi-4"}
    many = _with_expressions([{"key": "apps", "operator": "In", "values": ["a", "b"]}])
    assert [str(e) for e in validate_workspace(parse_workspace(many)).errors] == [
        "resource.labelSelector.matchExpressions[0]: In with 2 values for 'apps': a node carries one value "
        "per label, so KAITO accepts an In with exactly one value; pick one"
    ]


def test_adapters_become_puller_init_containers_into_a_shared_volume() -> None:
    plan = plan_of("v0.3.2", "kaito_workspace_falcon_7b_with_adapters.yaml")
    spec = objects.workload(plan)["spec"]["template"]["spec"]
    (puller,) = spec["initContainers"]
    assert puller["name"] == "puller-falcon-7b-adapter" and "<YOUR_IMAGE>" in puller["args"][0]
    assert {"name": "adapter-volume", "emptyDir": {}} in spec["volumes"]
    main = spec["containers"][0]
    assert {"name": "adapter-volume", "mountPath": "/mnt/adapter"} in main["volumeMounts"]
    assert {"name": "falcon-7b-adapter", "value": "0.2"} in main["env"]
    annotations = objects.workload(plan)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kaito.sh/adapters"] == "falcon-7b-adapter"


@pytest.mark.parametrize(
    ("adapter", "expected"),
    [
        ({"source": {"name": "a", "image": "x"}, "strength": "1.5"}, "strength: 1.5 is outside 0 to 1"),
        ({"source": {"name": "A_b", "image": "x"}}, "source.name: 'A_b' is not a DNS-1123 subdomain"),
        ({"source": {"name": "a"}}, "source: set image (or volumeSource)"),
        (
            {"source": {"name": "a", "image": "x", "urls": ["http://x"]}},
            "source.urls: URLs are not supported",
        ),
    ],
)
def test_bad_adapters_get_kaitos_refusals(adapter: dict[str, Any], expected: str) -> None:
    manifest = load_manifest(HERE / "v0.12.0" / "kaito_workspace_phi_3_with_adapters.yaml").raw_workspace()
    manifest["inference"]["adapters"] = [adapter]
    errors = [str(e) for e in validate_workspace(parse_workspace(manifest)).errors]
    assert len(errors) == 1 and errors[0].startswith(
        "inference.adapters[0]." if "." in expected.split(":")[0] else "inference.adapters[0]"
    )
    assert expected in errors[0]


def test_the_config_map_is_mounted_and_checked_as_kaito_does() -> None:
    plan = plan_of("v0.12.0", "kaito_workspace_tool_calling.yaml")
    spec = objects.workload(plan)["spec"]["template"]["spec"]
    assert {"name": "config-volume", "configMap": {"name": "tc-inference-params"}} in spec["volumes"]
    assert "--kaito-config-file=/mnt/config/inference_config.yaml" in spec["containers"][0]["command"]
    phi4 = find_model("phi-4")
    assert phi4 is not None and phi4.model_token_limit == 16384

    def problems(text: str | None) -> list[str]:
        config_map = {"data": {} if text is None else {"inference_config.yaml": text}}
        return [m for _, m in config_map_problems(config_map, "cm", "default", phi4, "vllm")]

    assert problems("vllm:\n  max-model-len: 16384\n") == []
    assert problems("vllm:\n  max-model-len: 16385\n") == [
        "ConfigMap 'cm': vllm.max-model-len 16385 exceeds phi-4's context window of 16384 tokens; "
        "set it to 16384 or less"
    ]
    assert "has no inference_config.yaml key" in problems(None)[0]
    assert "is not valid YAML at line" in problems("vllm: [unclosed\n")[0]
    assert "must be an integer" in problems("vllm:\n  max-model-len: lots\n")[0]
    assert config_map_problems(None, "cm", "ns", phi4, "vllm")[0][1].startswith("ConfigMap 'cm' not found")


def test_an_oversized_max_model_len_in_the_same_file_is_refused(tmp_path: Path) -> None:
    text = (HERE / "v0.12.0" / "kaito_workspace_custom_config.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("max-model-len: 131072", "max-model-len: 131073"))
    result = validate(bad)
    assert result.exit_code == 2
    assert "vllm.max-model-len 131073 exceeds deepseek-r1-distill-qwen-14b's context window of 131072" in (
        result.output
    )


def test_every_preset_cites_its_kaito_source_and_the_example_models_are_there() -> None:
    assert all(m.source.startswith(("v0.", "v1.")) for m in all_models())
    for name in ("gemma-3-4b-instruct", "gemma-3-27b-instruct", "ministral-3-3b-instruct",
                 "mistral-large-3-675b-instruct", "deepseek-r1-0528", "deepseek-v3-0324", "gpt-oss-20b",
                 "gpt-oss-120b", "llama-2-7b", "llama-2-70b-chat", "phi-2"):  # fmt: skip
        model = find_model(name)
        assert model is not None and model.gpu_memory_gib > 0 and model.runtimes, name
    assert find_model("gpt-oss-120b").model_token_limit == 131072  # type: ignore[union-attr]
    assert find_model("ministral-3-8b-instruct").runtimes == ("vllm",)  # type: ignore[union-attr]


def test_deprecated_presets_warn() -> None:
    result = validate(HERE / "v0.3.2" / "kaito_workspace_phi_2.yaml")
    assert result.exit_code == 0 and "KAITO v0.12.0 marks phi-2 deprecated" in result.output
    result = validate(HERE / "v0.3.2" / "kaito_workspace_llama2_7b.yaml")
    assert result.exit_code == 0 and "KAITO removed the llama-2 presets" in result.output


def test_the_runtime_annotation_is_honoured() -> None:
    manifest = load_manifest(HERE / "v0.12.0" / "kaito_workspace_phi_4_mini.yaml").raw_workspace()
    manifest["metadata"]["annotations"] = {"kaito.sh/runtime": "transformers"}
    plan = build_plan(parse_workspace(manifest))
    assert plan.runtime == "transformers"
    assert objects.workload(plan)["spec"]["template"]["spec"]["containers"][0]["command"][0] == "accelerate"
    manifest["inference"]["preset"]["name"] = "ministral-3-3b-instruct"
    with pytest.raises(WorkspaceInvalid, match="ministral-3-3b-instruct does not run on transformers"):
        build_plan(parse_workspace(manifest))


def _node(name: str, memory_mib: int = 81920, count: int = 1, **labels: str) -> dict[str, Any]:
    gfd = {"nvidia.com/gpu.product": "NVIDIA-A100", "nvidia.com/gpu.count": str(count),
           "nvidia.com/gpu.memory": str(memory_mib)}  # fmt: skip
    return {"metadata": {"name": name, "labels": {**gfd, **labels}}}


def test_byo_plans_no_pool_and_checks_the_nodes_gpu_labels() -> None:
    plan = plan_of("v0.12.0", "kaito_workspace_accelerator.yaml")
    assert plan.bring_your_own_nodes and plan.instance_type == "" and plan.gpus_per_node == 2
    affinity = objects.node_affinity(plan)["requiredDuringSchedulingIgnoredDuringExecution"]
    assert affinity["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "apps", "operator": "In", "values": ["accelerator-llama-3-1-8b-instruct"]}
    ]
    assert objects.node_selector(plan) == "apps=accelerator-llama-3-1-8b-instruct"
    model = find_model("llama-3.1-8b-instruct")
    assert len(check_byo_nodes([_node("gpu-0")], plan.match_labels, model, 1)) == 1
    with pytest.raises(ByoNodesUnfit, match=r"needs 1 GPU and 22Gi; 1 node\(s\) of 1 × NVIDIA-A100, 16Gi"):
        check_byo_nodes([_node("gpu-0", memory_mib=16384)], plan.match_labels, model, 1)
    with pytest.raises(ByoNodesUnfit, match=r"no node matches the label selector"):
        check_byo_nodes([], plan.match_labels, model, 1)
    unlabelled = {"metadata": {"name": "n", "labels": {"nvidia.com/gpu.count": "1"}}}
    with pytest.raises(
        ByoNodesUnfit, match=r"has no nvidia\.com/gpu\.product, nvidia\.com/gpu\.memory label"
    ):
        check_byo_nodes([unlabelled], {}, model, 1)
    with pytest.raises(ByoNodesUnfit, match="the nodes differ"):
        check_byo_nodes([_node("a"), _node("b", count=2)], {}, model, 2)


def test_preferred_nodes_narrow_a_byo_workspace_to_those_hosts() -> None:
    manifest = load_manifest(HERE / "v0.12.0" / "kaito_workspace_accelerator.yaml").raw_workspace()
    manifest["resource"]["preferredNodes"] = ["gpu-a", "gpu-b"]
    plan = build_plan(parse_workspace(manifest))
    terms = objects.node_affinity(plan)["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "kubernetes.io/hostname", "operator": "In", "values": ["gpu-a", "gpu-b"]} in terms[0][
        "matchExpressions"
    ]
    assert objects.workload(plan)["spec"]["replicas"] == 1


def _mig(profile: str | None, preset: str = "phi-4-mini-instruct", **extra: Any) -> dict[str, Any]:
    manifest = load_manifest(HERE / "v0.12.0" / "kaito_workspace_accelerator.yaml").raw_workspace()
    manifest["resource"]["partition"] = {"mode": "mig", "profile": profile, **extra}
    manifest["inference"]["preset"] = {"name": preset}
    return manifest


def test_a_mig_partition_requests_one_slice_of_its_profile() -> None:
    plan = build_plan(parse_workspace(_mig("2g.24gb")))
    assert plan.mig_profile == "2g.24gb" and plan.bring_your_own_nodes
    resources = objects.workload(plan)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {
        "requests": {"nvidia.com/mig-2g.24gb": "1"},
        "limits": {"nvidia.com/mig-2g.24gb": "1"},
    }
    node = {"metadata": {"name": "m", "labels": {}}, "status": {"capacity": {"nvidia.com/mig-2g.24gb": "3"},
            "conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip
    assert ready_gpu_nodes([node], "", objects.gpu_resource(plan)) == ["m"]
    assert ready_gpu_nodes([node], "") == [], "a MIG node has no whole nvidia.com/gpu"


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (_mig("2g.25gb"), "resource.partition.profile: '2g.25gb' is not a known MIG profile"),
        (_mig("2g.24gb", count=2), "resource.partition.count: count is only valid for accelerator mode"),
        (
            _mig("1g.10gb", preset="phi-4"),
            "resource.partition: phi-4 needs 40Gi for its weights, more than the 10Gi of one 1g.10gb MIG "
            "slice",
        ),
    ],
)
def test_bad_mig_partitions_get_kaitos_refusals(manifest: dict[str, Any], expected: str) -> None:
    errors = [str(e) for e in validate_workspace(parse_workspace(manifest)).errors]
    assert len(errors) == 1 and errors[0].startswith(expected), errors
