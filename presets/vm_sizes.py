"""The Azure VM size catalog (`presets/data/vm_sizes.yaml`): one table for sizing and the local cloud.

Every size carries its quota family, vCPUs and memory, so the emulated region can meter quota and
register nodes; GPU sizes are `GpuSku`s, which add the facts KAITO's admission checks use. Names are
Azure's; a name Azure does not have but manifests carry is an alias of the size it means.
"""

from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from presets._data import read_data_file


class VmSize(BaseModel):
    """One Azure VM size: the quota family ARM counts its cores against, its vCPUs and memory."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    name: str
    family: str = Field(min_length=1)
    vcpus: int = Field(alias="vCPUs", gt=0)
    memory_gib: int = Field(alias="memoryGiB", gt=0)
    gpu_count: int = Field(default=0, alias="gpuCount", ge=0)
    aliases: tuple[str, ...] = ()


class GpuSku(VmSize):
    """A VM size with GPUs. `gpu_memory_gib` is the total across the VM's GPUs."""

    gpu_count: int = Field(alias="gpuCount", gt=0)
    gpu_model: str = Field(alias="gpuModel")
    gpu_memory_gib: float = Field(alias="gpuMemoryGiB", gt=0)
    nvme: bool = False
    compute_capability: str | None = Field(default=None, alias="computeCapability")
    hourly_usd: float = Field(alias="hourlyUSD", gt=0)
    retired: bool = False

    @property
    def per_gpu_memory_gib(self) -> float:
        return self.gpu_memory_gib / self.gpu_count

    @property
    def is_nvidia(self) -> bool:
        return self.gpu_model.startswith("NVIDIA")


@cache
def all_vm_sizes() -> tuple[VmSize, ...]:
    """Every size in the catalog, in file order; the rows with `gpuCount` are `GpuSku`s."""
    rows = read_data_file("vm_sizes.yaml")["sizes"]
    return tuple(
        GpuSku.model_validate(row) if "gpuCount" in row else VmSize.model_validate(row) for row in rows
    )


@cache
def _by_lower_name() -> dict[str, VmSize]:
    return {size.name.lower(): size for size in all_vm_sizes()}


@cache
def _by_lower_alias() -> dict[str, VmSize]:
    return {alias.lower(): size for size in all_vm_sizes() for alias in size.aliases}


def find_vm_size(name: str, *, accept_aliases: bool = False) -> VmSize | None:
    """The size with this Azure name in any letter case (or, when asked, an alias), else None.

    ARM accepts only Azure's names, so the emulator looks up without aliases; admission resolves them.
    """
    key = name.strip().lower()
    size = _by_lower_name().get(key)
    if size is None and accept_aliases:
        size = _by_lower_alias().get(key)
    return size


def alias_warning(name: str) -> str | None:
    """Why `name` is accepted though Azure has no such size, or None when it is no alias."""
    size = _by_lower_alias().get(name.strip().lower())
    if size is None:
        return None
    return (
        f"{name.strip()} is not an Azure VM size name; Azure calls this size {size.name}, "
        f"and the node pool is created as {size.name}"
    )
