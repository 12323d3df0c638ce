"""The preset and GPU SKU catalogs and the sizing rules (the VM size catalog itself: test_vm_sizes)."""

import pytest

from presets.models import Runtime, all_models, find_model
from presets.sizing import cheapest_fitting_sku, check_fit, needs_text, nodes_needed, offers_text
from presets.skus import find_sku, looks_like_gpu_or_general_sku

REQUIRED_MODELS = [
    "falcon-7b",
    "falcon-7b-instruct",
    "falcon-40b",
    "falcon-40b-instruct",
    "mistral-7b",
    "mistral-7b-instruct",
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct",
    "phi-3.5-mini-instruct",
    "phi-4",
    "phi-4-mini-instruct",
    "llama-3.1-8b-instruct",
    "llama-3.3-70b-instruct",
    "qwen2.5-coder-7b-instruct",
    "qwen2.5-coder-32b-instruct",
    "deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-qwen-14b",
]
REQUIRED_SKUS = [
    "Standard_NV36ads_A10_v5",
    "Standard_NV72ads_A10_v5",
    "Standard_NC24ads_A100_v4",
    "Standard_NC48ads_A100_v4",
    "Standard_NC96ads_A100_v4",
    "Standard_ND96asr_v4",
    "Standard_ND96amsr_A100_v4",
    "Standard_NC40ads_H100_v5",
    "Standard_NC80adis_H100_v5",
    "Standard_ND96isr_H100_v5",
    "Standard_NCC40ads_H100_v5",
    "Standard_ND96isr_H200_v5",
    "Standard_NG32ads_V620_v1",
    "Standard_NG32adms_V620_v1",
    "Standard_NC6s_v3",
    "Standard_NC12s_v3",
    "Standard_NC24s_v3",
    "Standard_NC24rs_v3",
    "Standard_NC4as_T4_v3",
    "Standard_NC64as_T4_v3",
]


@pytest.mark.parametrize("name", REQUIRED_MODELS)
def test_every_required_preset_is_in_the_catalog(name: str) -> None:
    model = find_model(name)
    assert model is not None and model.name == name
    assert model.default_runtime == Runtime.VLLM
    assert model.readiness_timeout_minutes >= 30 and model.disk_gib > 0 and model.image


@pytest.mark.parametrize("name", REQUIRED_SKUS)
def test_every_required_sku_is_in_the_catalog(name: str) -> None:
    assert (sku := find_sku(name)) is not None and sku.name == name


def test_lookups_ignore_case_and_accept_hugging_face_ids() -> None:
    assert find_sku("standard_nc12S_V3") == find_sku("Standard_NC12s_v3")
    assert find_model("microsoft/Phi-4") == find_model("PHI-4")
    assert find_model("no-such-model") is None and find_sku("Standard_NC1_v9") is None


def test_catalog_facts_match_kaito() -> None:
    nc12 = find_sku("Standard_NC12s_v3")
    assert nc12 and (nc12.gpu_count, nc12.gpu_memory_gib, nc12.per_gpu_memory_gib, nc12.retired) == (
        2,
        32,
        16,
        True,
    )
    llama = find_model("llama-3.3-70b-instruct")
    assert llama and llama.gated and llama.distributed and llama.per_gpu_memory_gib == 80
    assert find_model("falcon-7b").served_model_name == "falcon-7b"  # type: ignore[union-attr]
    assert find_model("phi-4-mini-instruct").served_model_name == "phi-4-mini-instruct"  # type: ignore[union-attr]
    assert len({m.name for m in all_models()}) == len(all_models())


def test_the_three_gpu_checks_each_fail_on_their_own() -> None:
    falcon40 = find_model("falcon-40b")
    llama70 = find_model("llama-3.3-70b-instruct")
    assert falcon40 and llama70
    too_few = check_fit(falcon40, find_sku("Standard_NC40ads_H100_v5"), 1)  # type: ignore[arg-type]
    assert [p.split(":")[0] for p in too_few.problems] == ["insufficient number of GPUs"]
    low_per_gpu = check_fit(llama70, find_sku("Standard_ND96asr_v4"), 1)  # type: ignore[arg-type]
    assert [p.split(":")[0] for p in low_per_gpu.problems] == ["insufficient per-GPU memory"]
    low_total = check_fit(falcon40, find_sku("Standard_NV72ads_A10_v5"), 1)  # type: ignore[arg-type]
    assert [p.split(":")[0] for p in low_total.problems] == ["insufficient total GPU memory"]
    assert check_fit(falcon40, find_sku("Standard_NC96ads_A100_v4"), 1).fits  # type: ignore[arg-type]


def test_node_count_is_the_fewest_nodes_that_hold_the_model() -> None:
    llama70 = find_model("llama-3.3-70b-instruct")
    assert llama70
    assert nodes_needed(llama70, find_sku("Standard_NC24ads_A100_v4")) == 4  # type: ignore[arg-type]
    assert nodes_needed(llama70, find_sku("Standard_NC96ads_A100_v4")) == 1  # type: ignore[arg-type]
    assert nodes_needed(llama70, find_sku("Standard_ND96asr_v4")) is None  # type: ignore[arg-type]
    assert nodes_needed(find_model("falcon-7b"), find_sku("Standard_NC12s_v3")) == 1  # type: ignore[arg-type]


def test_suggestion_is_the_cheapest_current_nvidia_sku_on_one_node() -> None:
    assert cheapest_fitting_sku(find_model("falcon-40b")).name == "Standard_NC48ads_A100_v4"  # type: ignore[arg-type, union-attr]
    assert cheapest_fitting_sku(find_model("falcon-7b")).name == "Standard_NV36ads_A10_v5"  # type: ignore[arg-type, union-attr]
    assert cheapest_fitting_sku(find_model("llama-3.3-70b-instruct")).name == "Standard_NC96ads_A100_v4"  # type: ignore[arg-type, union-attr]


def test_phrases_used_in_errors() -> None:
    assert needs_text(find_model("falcon-40b")) == "2 GPUs and 90Gi"  # type: ignore[arg-type]
    assert offers_text(find_sku("Standard_NC6s_v3")) == "1 GPU and 16Gi"  # type: ignore[arg-type]
    assert needs_text(find_model("llama-3.3-70b-instruct")) == "4 GPUs of at least 80Gi each and 320Gi"  # type: ignore[arg-type]


def test_unknown_n_and_d_series_are_recognised_for_the_warning_rule() -> None:
    assert looks_like_gpu_or_general_sku("Standard_NC999_v9")
    assert looks_like_gpu_or_general_sku("standard_d4s_v3")
    assert not looks_like_gpu_or_general_sku("Standard_B2s")
