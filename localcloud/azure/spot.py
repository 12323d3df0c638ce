"""Spot VMs: the agent-pool properties AKS accepts for them, and an eviction the tests can cause.

A Spot pool (`scaleSetPriority: Spot`) has an eviction policy (Delete or Deallocate) and a maximum price
(-1: pay up to the on-demand price, never evicted for price). Azure evicts Spot VMs when it needs the
capacity back; with the Delete policy the VMs are gone and the pool's count drops by as many, which is
what `evict` does: the pool settles at 0 nodes and the GPU-node bridge removes the nodes.
"""

from __future__ import annotations

from localcloud.azure.context import Cloud
from localcloud.azure.errors import ArmError, invalid_parameter
from localcloud.azure.state import Json

PRIORITIES = ("Regular", "Spot")
EVICTION_POLICIES = ("Delete", "Deallocate")


def check_spot(props: Json, existing: Json | None) -> None:
    """AKS's rules for the Spot fields; defaults filled in (Delete, -1) as AKS fills them."""
    priority = props.setdefault("scaleSetPriority", "Regular")
    if priority not in PRIORITIES:
        raise invalid_parameter(
            "agentPoolProfile.scaleSetPriority",
            f"The value of parameter agentPoolProfile.scaleSetPriority is invalid: {priority!r}. "
            "Allowed values are 'Regular' and 'Spot'.",
        )
    if existing is not None and existing.get("scaleSetPriority", "Regular") != priority:
        raise ArmError(
            400, "PropertyChangeNotAllowed", "Changing property 'scaleSetPriority' is not allowed.",
            target="scaleSetPriority", shape="aks",
        )  # fmt: skip
    if priority != "Spot":
        return
    if props.get("mode") == "System":
        raise invalid_parameter("agentPoolProfile.scaleSetPriority", "System node pools cannot use Spot VMs.")
    policy = props.setdefault("scaleSetEvictionPolicy", "Delete")
    if policy not in EVICTION_POLICIES:
        raise invalid_parameter(
            "agentPoolProfile.scaleSetEvictionPolicy",
            f"The value of parameter agentPoolProfile.scaleSetEvictionPolicy is invalid: {policy!r}.",
        )
    price = props.setdefault("spotMaxPrice", -1)
    if isinstance(price, bool) or not isinstance(price, int | float) or not (price == -1 or price > 0):
        raise invalid_parameter(
            "agentPoolProfile.spotMaxPrice",
            f"The value of parameter agentPoolProfile.spotMaxPrice is invalid: {price!r}. It must be -1 "
            "or a price greater than 0.",
        )


def evict(cloud: Cloud, pool_name: str) -> Json:
    """Azure takes a Spot pool's VMs back (policy Delete): its count drops to 0 and its nodes go."""
    for rec in cloud.state.agent_pools.values():
        pool: Json = rec["resource"]
        if pool["name"] != pool_name:
            continue
        props = pool["properties"]
        if props.get("scaleSetPriority") != "Spot":
            raise ValueError(f"agent pool {pool_name} is not a Spot pool")
        if cloud.ops.in_flight_for(pool["id"]) is not None:
            raise ValueError(f"agent pool {pool_name} has an operation in progress")
        props["count"] = 0
        cloud.events.emit("succeeded", pool)
        cloud.store.save()
        return pool
    raise ValueError(f"no agent pool {pool_name}")
