"""Spot VMs: when to give up on them, and what they saved. Pure, for the workflow and its tests.

A Spot pool costs a fraction of on-demand until Azure takes the VMs back. The workflow re-provisions
after each eviction; after `EVICTIONS_BEFORE_ON_DEMAND` evictions within `EVICTION_WINDOW` it moves to
on-demand VMs when the user allowed that (`kaito.sh/spot-fallback: "true"`).
"""

from datetime import datetime, timedelta

from workflows.savings import Savings
from workflows.workspace_contracts import ProvisioningPlan

EVICTIONS_BEFORE_ON_DEMAND = 3
EVICTION_WINDOW = timedelta(hours=1)
# Spot prices of Azure's GPU sizes move with demand; the savings shown are an estimate at this discount
# off the pay-as-you-go price of the catalog (`presets/data/vm_sizes.yaml`).
SPOT_DISCOUNT = 0.7


def recent_evictions(evictions: list[datetime], now: datetime) -> list[datetime]:
    return [at for at in evictions if now - at <= EVICTION_WINDOW]


def too_many_evictions(evictions: list[datetime], now: datetime) -> bool:
    return len(recent_evictions(evictions, now)) >= EVICTIONS_BEFORE_ON_DEMAND


def saved_on_spot(plan: ProvisioningPlan, since: datetime, until: datetime) -> Savings:
    """GPU-hours served on Spot from `since` to `until`, and the estimated dollars Spot's discount saved."""
    hours = max((until - since).total_seconds(), 0.0) / 3600
    return Savings(
        gpu_hours=hours * plan.node_count * (plan.gpus_per_node or 1),
        usd=hours * plan.node_count * (plan.hourly_usd or 0) * SPOT_DISCOUNT,
    )
