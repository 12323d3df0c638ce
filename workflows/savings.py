"""What scaling to zero saved: GPU-hours and dollars not spent while a workspace was suspended."""

from dataclasses import dataclass
from datetime import datetime

from workflows.workspace_contracts import ProvisioningPlan


@dataclass(frozen=True)
class Savings:
    gpu_hours: float = 0.0
    usd: float = 0.0

    def __add__(self, other: "Savings") -> "Savings":
        return Savings(gpu_hours=self.gpu_hours + other.gpu_hours, usd=self.usd + other.usd)


def saved_while_suspended(plan: ProvisioningPlan, since: datetime, until: datetime) -> Savings:
    """Every node of the plan was off from `since` to `until`.

    A SKU outside the catalog counts one GPU per node and no price; a clock that went backwards saves
    nothing rather than a negative amount.
    """
    hours = max((until - since).total_seconds(), 0.0) / 3600
    return Savings(
        gpu_hours=hours * plan.node_count * (plan.gpus_per_node or 1),
        usd=hours * plan.node_count * (plan.hourly_usd or 0),
    )
