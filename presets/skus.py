"""The GPU sizes of the VM size catalog: what each SKU offers, looked up case-insensitively as KAITO does."""

from functools import cache

from presets.vm_sizes import GpuSku, all_vm_sizes, find_vm_size

__all__ = ["GpuSku", "all_skus", "find_sku", "looks_like_gpu_or_general_sku"]


@cache
def all_skus() -> tuple[GpuSku, ...]:
    return tuple(size for size in all_vm_sizes() if isinstance(size, GpuSku))


def find_sku(name: str) -> GpuSku | None:
    """The GPU SKU with this name or alias in any letter case, or None when the catalog has none."""
    size = find_vm_size(name, accept_aliases=True)
    return size if isinstance(size, GpuSku) else None


def looks_like_gpu_or_general_sku(name: str) -> bool:
    """KAITO lets unknown `Standard_N*` (GPU) and `Standard_D*` sizes through with a warning."""
    lowered = name.lower()
    return lowered.startswith("standard_n") or lowered.startswith("standard_d")
