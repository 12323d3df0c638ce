"""The Azure GPU VM size catalog: what each SKU offers, looked up case-insensitively as KAITO does."""

from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from presets._data import read_data_file


class GpuSku(BaseModel):
    """One Azure VM size with GPUs. `gpu_memory_gib` is the total across the VM's GPUs."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str
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
def all_skus() -> tuple[GpuSku, ...]:
    return tuple(GpuSku.model_validate(raw) for raw in read_data_file("skus.yaml")["skus"])


@cache
def _by_lower_name() -> dict[str, GpuSku]:
    return {sku.name.lower(): sku for sku in all_skus()}


def find_sku(name: str) -> GpuSku | None:
    """The SKU with this name in any letter case, or None when the catalog does not know it."""
    return _by_lower_name().get(name.strip().lower())


def looks_like_gpu_or_general_sku(name: str) -> bool:
    """KAITO lets unknown `Standard_N*` (GPU) and `Standard_D*` sizes through with a warning."""
    lowered = name.lower()
    return lowered.startswith("standard_n") or lowered.startswith("standard_d")
