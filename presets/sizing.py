"""Which SKU fits which model: KAITO's three GPU checks, the node count, and a cheaper suggestion."""

import math
from dataclasses import dataclass

from presets.models import ModelPreset
from presets.skus import GpuSku, all_skus


def gib(value: float) -> str:
    """Format GiB the way Kubernetes quantities read: 16Gi, 16.5Gi."""
    return f"{value:g}Gi"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class Fit:
    """The outcome of KAITO's GPU checks for a model on `node_count` nodes of one SKU."""

    model: ModelPreset
    sku: GpuSku
    node_count: int
    problems: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return not self.problems


def check_fit(model: ModelPreset, sku: GpuSku, node_count: int) -> Fit:
    """KAITO's classic webhook checks: GPU count, per-GPU memory and total memory across the nodes."""
    problems: list[str] = []
    if node_count * sku.gpu_count < model.gpu_count:
        problems.append(
            f"insufficient number of GPUs: {model.gpu_count} needed, {node_count * sku.gpu_count} available"
        )
    if sku.per_gpu_memory_gib < model.per_gpu_memory_gib:
        problems.append(
            f"insufficient per-GPU memory: {gib(model.per_gpu_memory_gib)} needed, "
            f"{gib(sku.per_gpu_memory_gib)} available"
        )
    if node_count * sku.gpu_memory_gib < model.gpu_memory_gib:
        problems.append(
            f"insufficient total GPU memory: {gib(model.gpu_memory_gib)} needed, "
            f"{gib(node_count * sku.gpu_memory_gib)} available"
        )
    return Fit(model=model, sku=sku, node_count=node_count, problems=tuple(problems))


def nodes_needed(model: ModelPreset, sku: GpuSku) -> int | None:
    """The fewest nodes of `sku` that hold the model, or None when no count can (per-GPU memory)."""
    if sku.per_gpu_memory_gib < model.per_gpu_memory_gib:
        return None
    by_gpus = math.ceil(model.gpu_count / sku.gpu_count)
    by_memory = math.ceil(model.gpu_memory_gib / sku.gpu_memory_gib)
    return max(1, by_gpus, by_memory)


def needs_text(model: ModelPreset) -> str:
    """What a model asks for, in one phrase: "2 GPUs and 90Gi"."""
    per_gpu = f" of at least {gib(model.per_gpu_memory_gib)} each" if model.per_gpu_memory_gib else ""
    return f"{_plural(model.gpu_count, 'GPU')}{per_gpu} and {gib(model.gpu_memory_gib)}"


def offers_text(sku: GpuSku, node_count: int = 1) -> str:
    """What `node_count` nodes of a SKU offer, in one phrase: "1 GPU and 16Gi"."""
    nodes = f" on {node_count} nodes" if node_count > 1 else ""
    return f"{_plural(node_count * sku.gpu_count, 'GPU')} and {gib(node_count * sku.gpu_memory_gib)}{nodes}"


def cheapest_fitting_sku(model: ModelPreset) -> GpuSku | None:
    """The current (not retired) NVIDIA SKU that serves the model at the lowest hourly price.

    Presets run CUDA images, so other vendors are never suggested. One node is preferred over
    several (multi-node inference is slower and needs a distributed preset); across nodes the
    price counts every node.
    """
    best: tuple[int, float, int, GpuSku] | None = None
    for sku in all_skus():
        if sku.retired or not sku.is_nvidia:
            continue
        count = nodes_needed(model, sku)
        if count is None or (count > 1 and not model.distributed):
            continue
        key = (count, count * sku.hourly_usd, count * sku.gpu_count, sku)
        if best is None or key[:3] < best[:3]:
            best = key
    return best[3] if best else None
