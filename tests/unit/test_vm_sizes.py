"""The one VM size catalog: Azure's names, serving both the presets' sizing and the emulated region."""

import pytest
from pydantic import ValidationError

from localcloud.azure.errors import ArmError
from localcloud.azure.poolrules import validate
from localcloud.azure.vmsizes import DEFAULT_FAMILY_QUOTAS, VmSize, find_size, offered_names
from presets.skus import GpuSku, all_skus, find_sku
from presets.vm_sizes import VmSize as CatalogSize
from presets.vm_sizes import alias_warning, all_vm_sizes, find_vm_size


def _put_pool(vm_size: str) -> None:
    validate(
        "gpu",
        {"properties": {"vmSize": vm_size}},
        existing=None,
        location="eastus",
        kubernetes_version="1.33.2",
        allowed_sizes=None,
        other_system_pools=1,
    )


def test_no_name_or_alias_appears_twice() -> None:
    names = [n.lower() for size in all_vm_sizes() for n in (size.name, *size.aliases)]
    assert len(names) == len(set(names)) > 30


@pytest.mark.parametrize("sku", all_skus(), ids=lambda sku: sku.name)
def test_every_gpu_size_is_offered_by_the_emulator_with_its_family_and_cores(sku: GpuSku) -> None:
    size = find_size(sku.name)
    assert size is not None and size.name == sku.name
    assert size.family and size.vcpus > 0 and size.memory_gib > 0
    assert size.gpus == sku.gpu_count
    assert size.family in DEFAULT_FAMILY_QUOTAS


def test_the_emulator_offers_exactly_the_catalog_and_meters_only_its_families() -> None:
    assert offered_names() == [size.name for size in all_vm_sizes()]
    assert set(DEFAULT_FAMILY_QUOTAS) == {size.family for size in all_vm_sizes()}


@pytest.mark.parametrize("name", ["Standard_DS2_v2", "Standard_D4s_v3", "Standard_D16s_v5"])
def test_system_pool_sizes_are_offered_but_are_no_gpu_skus(name: str) -> None:
    size = find_size(name)
    assert size is not None and size.gpus == 0 and size.vcpus > 0
    assert find_sku(name) is None


def test_nd96asr_v4_goes_by_its_azure_name_everywhere() -> None:
    sku = find_sku("Standard_ND96asr_v4")
    assert sku is not None
    assert (sku.name, sku.vcpus, sku.memory_gib, sku.gpu_count, sku.gpu_memory_gib) == (
        "Standard_ND96asr_v4",
        96,
        900,
        8,
        320,
    )
    assert find_size("standard_nd96asr_v4") == VmSize(
        "Standard_ND96asr_v4", "Standard NDASv4_A100 Family", 96, 900, 8
    )
    assert alias_warning("Standard_ND96asr_v4") is None


def test_kaitos_spelling_is_an_alias_that_admission_resolves_and_arm_refuses() -> None:
    assert find_sku(" standard_nd96asr_a100_v4 ") is find_sku("Standard_ND96asr_v4")
    assert find_vm_size("Standard_ND96asr_A100_v4") is None
    assert find_size("Standard_ND96asr_A100_v4") is None
    assert alias_warning("Standard_ND96asr_A100_v4") == (
        "Standard_ND96asr_A100_v4 is not an Azure VM size name; Azure calls this size "
        "Standard_ND96asr_v4, and the node pool is created as Standard_ND96asr_v4"
    )
    with pytest.raises(ArmError) as err:
        _put_pool("Standard_ND96asr_A100_v4")
    assert err.value.code == "BadRequest" and ",Standard_ND96asr_v4," in err.value.message
    _put_pool("Standard_ND96asr_v4")


def test_a_gpu_fact_on_a_row_without_gpu_count_is_refused() -> None:
    row = {"name": "Standard_X", "family": "f", "vCPUs": 2, "memoryGiB": 4, "gpuModel": "NVIDIA A10"}
    with pytest.raises(ValidationError, match="gpuModel"):
        CatalogSize.model_validate(row)
