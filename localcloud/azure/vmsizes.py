"""The VM sizes the emulated region offers, with the quota family ARM counts their cores against.

Azure meters GPU capacity as vCPU cores per VM family ("standardNCADSA100v4Family Cores quota"), so the
quota check needs each size's vCPU count and family, not its GPU count. The sizes are the presets'
VM size catalog (`presets/data/vm_sizes.yaml`), so admission and the emulator agree on every name.
"""

from __future__ import annotations

from dataclasses import dataclass

from presets.vm_sizes import all_vm_sizes


@dataclass(frozen=True)
class VmSize:
    """A size as ARM meters and registers it: cores against `family`, node capacity, GPUs per node."""

    name: str
    family: str
    vcpus: int
    memory_gib: int
    gpus: int = 0


_SIZES: tuple[VmSize, ...] = tuple(
    VmSize(size.name, size.family, size.vcpus, size.memory_gib, size.gpu_count) for size in all_vm_sizes()
)

# Cores per family a fresh local subscription may use. CPU families are generous; GPU families allow a
# handful of VMs so that quota errors are reachable without exotic configuration.
DEFAULT_FAMILY_QUOTAS: dict[str, int] = {
    "standardDSv2Family": 350,
    "standardDSv3Family": 350,
    "standardDSv5Family": 350,
    "standardNCADSA100v4Family": 192,
    "Standard NDASv4_A100 Family": 96,
    "standardNDAMSv4_A100Family": 96,
    "standardNCadsH100v5Family": 160,
    "StandardNCCads2023Family": 80,
    "standardNDSH100v5Family": 96,
    "standardNDISRH200V5Family": 96,
    "StandardNVADSA10v5Family": 144,
    "standardNCSv3Family": 48,
    "standardNVFamily": 48,
    "standardNVSv4Family": 64,
    "Standard NCASv3_T4 Family": 64,
    "standardNVSv3Family": 96,
    "StandardNGADSV620v1Family": 64,
}

_BY_LOWER: dict[str, VmSize] = {size.name.lower(): size for size in _SIZES}


def all_sizes() -> tuple[VmSize, ...]:
    return _SIZES


def find_size(name: str, allowed: list[str] | None = None) -> VmSize | None:
    """The size called `name` (any letter case) if the region offers it, else None.

    Only Azure's names: ARM refuses an alias such as Standard_ND96asr_A100_v4 as it refuses any unknown size.
    """
    size = _BY_LOWER.get(name.lower())
    if size is None:
        return None
    if allowed is not None and size.name.lower() not in {a.lower() for a in allowed}:
        return None
    return size


def offered_names(allowed: list[str] | None = None) -> list[str]:
    return [s.name for s in _SIZES if allowed is None or s.name.lower() in {a.lower() for a in allowed}]
