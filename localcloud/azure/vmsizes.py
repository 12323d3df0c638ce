"""The VM sizes the emulated region offers, with the quota family ARM counts their cores against.

Azure meters GPU capacity as vCPU cores per VM family ("standardNCADSA100v4Family Cores quota"), so the
quota check needs each size's vCPU count and family, not its GPU count.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VmSize:
    name: str
    family: str
    vcpus: int
    memory_gib: int
    gpus: int = 0


_SIZES: tuple[VmSize, ...] = (
    # General purpose (system pools)
    VmSize("Standard_DS2_v2", "standardDSv2Family", 2, 7),
    VmSize("Standard_D2s_v3", "standardDSv3Family", 2, 8),
    VmSize("Standard_D4s_v3", "standardDSv3Family", 4, 16),
    VmSize("Standard_D8s_v3", "standardDSv3Family", 8, 32),
    VmSize("Standard_D16s_v3", "standardDSv3Family", 16, 64),
    VmSize("Standard_D2s_v5", "standardDSv5Family", 2, 8),
    VmSize("Standard_D4s_v5", "standardDSv5Family", 4, 16),
    VmSize("Standard_D8s_v5", "standardDSv5Family", 8, 32),
    VmSize("Standard_D16s_v5", "standardDSv5Family", 16, 64),
    # NVIDIA A100
    VmSize("Standard_NC24ads_A100_v4", "standardNCADSA100v4Family", 24, 220, 1),
    VmSize("Standard_NC48ads_A100_v4", "standardNCADSA100v4Family", 48, 440, 2),
    VmSize("Standard_NC96ads_A100_v4", "standardNCADSA100v4Family", 96, 880, 4),
    VmSize("Standard_ND96asr_v4", "standardNDASv4_A100Family", 96, 900, 8),
    VmSize("Standard_ND96amsr_A100_v4", "standardNDAMSv4_A100Family", 96, 1900, 8),
    # NVIDIA H100 / H200
    VmSize("Standard_NC40ads_H100_v5", "standardNCadsH100v5Family", 40, 320, 1),
    VmSize("Standard_NC80adis_H100_v5", "standardNCadsH100v5Family", 80, 640, 2),
    VmSize("Standard_NCC40ads_H100_v5", "standardNCCadsH100v5Family", 40, 320, 1),
    VmSize("Standard_ND96isr_H100_v5", "standardNDSH100v5Family", 96, 1900, 8),
    VmSize("Standard_ND96isr_H200_v5", "standardNDSH200v5Family", 96, 1850, 8),
    # NVIDIA A10
    VmSize("Standard_NV36ads_A10_v5", "StandardNVADSA10v5Family", 36, 440, 1),
    VmSize("Standard_NV72ads_A10_v5", "StandardNVADSA10v5Family", 72, 880, 2),
    # NVIDIA V100 and T4 (older KAITO examples use them)
    VmSize("Standard_NC6s_v3", "standardNCSv3Family", 6, 112, 1),
    VmSize("Standard_NC12s_v3", "standardNCSv3Family", 12, 224, 2),
    VmSize("Standard_NC24s_v3", "standardNCSv3Family", 24, 448, 4),
    VmSize("Standard_NC24rs_v3", "standardNCSv3Family", 24, 448, 4),
    VmSize("Standard_NC4as_T4_v3", "standardNCASv3_T4Family", 4, 28, 1),
    VmSize("Standard_NC8as_T4_v3", "standardNCASv3_T4Family", 8, 56, 1),
    VmSize("Standard_NC16as_T4_v3", "standardNCASv3_T4Family", 16, 110, 1),
    VmSize("Standard_NC64as_T4_v3", "standardNCASv3_T4Family", 64, 440, 4),
    # AMD
    VmSize("Standard_NG32ads_V620_v1", "StandardNGADSV620v1Family", 32, 64, 1),
    VmSize("Standard_NG32adms_V620_v1", "StandardNGADSV620v1Family", 32, 176, 1),
)

# Cores per family a fresh local subscription may use. CPU families are generous; GPU families allow a
# handful of VMs so that quota errors are reachable without exotic configuration.
DEFAULT_FAMILY_QUOTAS: dict[str, int] = {
    "standardDSv2Family": 350,
    "standardDSv3Family": 350,
    "standardDSv5Family": 350,
    "standardNCADSA100v4Family": 192,
    "standardNDASv4_A100Family": 96,
    "standardNDAMSv4_A100Family": 96,
    "standardNCadsH100v5Family": 160,
    "standardNCCadsH100v5Family": 80,
    "standardNDSH100v5Family": 96,
    "standardNDSH200v5Family": 96,
    "StandardNVADSA10v5Family": 144,
    "standardNCSv3Family": 48,
    "standardNCASv3_T4Family": 64,
    "StandardNGADSV620v1Family": 64,
}

_BY_LOWER: dict[str, VmSize] = {size.name.lower(): size for size in _SIZES}


def all_sizes() -> tuple[VmSize, ...]:
    return _SIZES


def find_size(name: str, allowed: list[str] | None = None) -> VmSize | None:
    """The size called `name` (any letter case) if the region offers it, else None."""
    size = _BY_LOWER.get(name.lower())
    if size is None:
        return None
    if allowed is not None and size.name.lower() not in {a.lower() for a in allowed}:
        return None
    return size


def offered_names(allowed: list[str] | None = None) -> list[str]:
    return [s.name for s in _SIZES if allowed is None or s.name.lower() in {a.lower() for a in allowed}]
