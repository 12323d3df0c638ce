"""Compute usages: `GET /subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/usages`.

What `az vm list-usage` and `ComputeManagementClient.usage.list` read: per VM family, the vCPUs in use and
the quota (`limit`), plus the region's total. Usage is what the agent pools hold, counted exactly as the
agent-pool preflight counts it (`poolrules.family_usage`), so the quota read before a PUT and the quota
the PUT meets are the same numbers.
"""

from __future__ import annotations

from aiohttp import web

from localcloud.azure import poolrules
from localcloud.azure.context import ArmCall, Cloud, arm_json
from localcloud.azure.errors import ArmError
from localcloud.azure.state import Json
from localcloud.azure.vmsizes import all_sizes

TOTAL_REGIONAL = "cores"


def _usage(name: str, localized: str, current: int, limit: int) -> Json:
    return {
        "currentValue": current,
        "limit": limit,
        "name": {"localizedValue": localized, "value": name},
        "unit": "Count",
    }


def usages(cloud: Cloud) -> list[Json]:
    """Every family of the offer, with the region's total first, as ARM lists them."""
    pools = poolrules.pools_in_effect(cloud.state.agent_pools.values())
    families = sorted({size.family for size in all_sizes()})
    rows = [
        _usage(
            family,
            f"{family} vCPUs",
            poolrules.family_usage(pools, family),
            cloud.config.family_quotas.get(family, cloud.config.default_family_quota),
        )
        for family in families
    ]
    total = sum(row["currentValue"] for row in rows)
    limit = sum(row["limit"] for row in rows)
    return [_usage(TOTAL_REGIONAL, "Total Regional vCPUs", total, limit), *rows]


async def list_usages(call: ArmCall) -> web.Response:
    call.cloud.check_subscription(call.param("sub"))
    location = call.param("loc")
    if location.replace(" ", "").lower() != call.cloud.config.location.lower():
        raise ArmError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{location}' and API version "
            f"'{call.request.query.get('api-version', '')}' for type 'locations/usages'.",
        )
    return arm_json({"value": usages(call.cloud)})
