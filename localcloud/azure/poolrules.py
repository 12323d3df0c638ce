"""The rules AKS applies to an agent-pool PUT before it accepts it: names, sizes, counts, modes, quota.

Pure functions over JSON so they are unit-testable and shared by the agentPools PUT and a cluster create
that carries agentPoolProfiles. Every failure is the status and error code AKS answers, raised before any
state changes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from localcloud.azure.errors import ArmError, invalid_content, invalid_parameter
from localcloud.azure.spot import check_spot
from localcloud.azure.state import Json
from localcloud.azure.vmsizes import VmSize, find_size, offered_names

NAME_RULES = {
    "Linux": re.compile(r"^[a-z][a-z0-9]{0,11}$"),
    "Windows": re.compile(r"^[a-z][a-z0-9]{0,5}$"),
}
TAINT = re.compile(
    r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?=[^:,]*:(NoSchedule|PreferNoSchedule|NoExecute)$"
)
MAX_COUNT = 1000
READ_ONLY = ("provisioningState", "currentOrchestratorVersion", "nodeImageVersion", "eTag")
IMMUTABLE = ("vmSize", "osType", "osDiskSizeGB")
NAMING_HELP = "Please see https://aka.ms/aks-naming-rules for more details."
DEFAULT_NODE_IMAGE = "AKSUbuntu-2204gen2containerd-202511.04.0"


@dataclass(frozen=True)
class PoolSpec:
    """A validated pool: the properties to store and the size they run on."""

    properties: Json
    size: VmSize

    @property
    def node_count(self) -> int:
        return 0 if self.properties["powerState"]["code"] == "Stopped" else int(self.properties["count"])


def check_name(name: str, os_type: str = "Linux") -> None:
    if not NAME_RULES.get(os_type, NAME_RULES["Linux"]).match(name):
        raise invalid_parameter(
            "agentPoolProfile.name", f"The value of parameter agentPoolProfile.name is invalid. {NAMING_HELP}"
        )


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_content(f"'{field}' must be an integer, got {value!r}")
    return value


def validate(
    name: str,
    body: Json,
    *,
    existing: Json | None,
    location: str,
    kubernetes_version: str,
    allowed_sizes: list[str] | None,
    other_system_pools: int,
) -> PoolSpec:
    """Check a PUT body against AKS's rules; returns the properties to store (defaults filled in)."""
    raw_props = body.get("properties")
    if not isinstance(raw_props, dict):
        raise invalid_content("the agent pool must have a 'properties' object")
    props: Json = copy.deepcopy(existing) if existing else {}
    for key, value in raw_props.items():
        if key not in READ_ONLY and value is not None:
            props[key] = copy.deepcopy(value)

    os_type = props.setdefault("osType", "Linux")
    if os_type not in NAME_RULES:
        raise invalid_parameter(
            "agentPoolProfile.osType",
            f"The value of parameter agentPoolProfile.osType is "
            f"invalid: '{os_type}'. Allowed values are 'Linux' and 'Windows'.",
        )
    check_name(name, os_type)

    if existing is not None:
        for field in IMMUTABLE:
            old, new = existing.get(field), raw_props.get(field)
            if new in (None, 0) or str(old).lower() == str(new).lower():
                continue
            raise ArmError(
                400,
                "PropertyChangeNotAllowed",
                f"Changing property '{field}' is not allowed.",
                target=field,
                shape="aks",
            )

    vm_size = props.get("vmSize")
    if not isinstance(vm_size, str) or not vm_size:
        raise invalid_parameter(
            "agentPoolProfile.vmSize",
            "The value of parameter agentPoolProfile.vmSize is invalid: a VM size is required.",
        )
    size = find_size(vm_size, allowed_sizes)
    if size is None:
        raise ArmError(
            400,
            "BadRequest",
            f"The VM size of AgentPoolProfile:{name} is not allowed in your subscription in location "
            f"'{location}'. The available VM sizes are '{','.join(offered_names(allowed_sizes))}'. "
            "For more details, please visit https://aka.ms/aks/quotas-skus-regions",
            shape="aks",
        )
    props["vmSize"] = size.name

    mode = props.setdefault("mode", "User")
    if mode not in ("System", "User", "Gateway"):
        raise invalid_parameter(
            "agentPoolProfile.mode",
            f"The value of parameter agentPoolProfile.mode is "
            f"invalid: '{mode}'. Allowed values are 'System' and 'User'.",
        )
    if mode == "System" and os_type == "Windows":
        raise invalid_parameter("agentPoolProfile.mode", "Windows agent pools cannot be System mode.")
    if (
        existing is not None
        and existing.get("mode") == "System"
        and mode != "System"
        and other_system_pools == 0
    ):
        raise ArmError(
            400,
            "BadRequest",
            "A managed cluster must have at least one System node pool; "
            f"changing the mode of '{name}' would leave none.",
            shape="aks",
        )

    count = _int(props.setdefault("count", 1), "count")
    low = 1 if mode == "System" else 0
    if not low <= count <= MAX_COUNT:
        raise invalid_parameter(
            "agentPoolProfile.count",
            f"The value of parameter agentPoolProfile.count is "
            f"invalid: {count}. The count of a {mode} node pool must be between {low} and "
            f"{MAX_COUNT}.",
        )

    disk = _int(props.get("osDiskSizeGB") or 128, "osDiskSizeGB")
    if not 30 <= disk <= 2048:
        raise invalid_parameter(
            "agentPoolProfile.osDiskSizeGB",
            f"The value of parameter "
            f"agentPoolProfile.osDiskSizeGB is invalid: {disk}. It must be between 30 and 2048.",
        )
    props["osDiskSizeGB"] = disk

    labels = props.get("nodeLabels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise invalid_parameter(
            "agentPoolProfile.nodeLabels",
            "The value of parameter "
            "agentPoolProfile.nodeLabels is invalid: labels must map strings to strings.",
        )
    reserved = [k for k in labels if k.startswith("kubernetes.azure.com/")]
    if reserved:
        raise invalid_parameter(
            "agentPoolProfile.nodeLabels",
            f"Node labels with the reserved prefix 'kubernetes.azure.com/' are not allowed: {reserved}.",
        )
    taints = props.get("nodeTaints") or []
    if not isinstance(taints, list) or not all(isinstance(t, str) and TAINT.match(t) for t in taints):
        raise invalid_parameter(
            "agentPoolProfile.nodeTaints",
            f"The value of parameter "
            f"agentPoolProfile.nodeTaints is invalid: {taints!r}. Taints must look like "
            "key=value:NoSchedule|PreferNoSchedule|NoExecute.",
        )

    power = props.get("powerState") or {"code": "Running"}
    code = power.get("code", "Running") if isinstance(power, dict) else None
    if code not in ("Running", "Stopped"):
        raise invalid_parameter(
            "agentPoolProfile.powerState",
            f"The value of parameter agentPoolProfile.powerState.code is invalid: {code!r}.",
        )
    if code == "Stopped" and (existing is None or mode == "System"):
        raise invalid_parameter(
            "agentPoolProfile.powerState",
            "A node pool can only be stopped after it is created, and System node pools cannot be stopped.",
        )
    props["powerState"] = {"code": code}

    if props.get("enableAutoScaling"):
        low_n, high_n = props.get("minCount"), props.get("maxCount")
        if not isinstance(low_n, int) or not isinstance(high_n, int) or not low_n <= count <= high_n:
            raise invalid_parameter(
                "agentPoolProfile.minCount",
                "When autoscaling is enabled, minCount and "
                "maxCount are required and count must lie between them.",
            )

    props.setdefault("type", "VirtualMachineScaleSets")
    props.setdefault("orchestratorVersion", kubernetes_version)
    props["currentOrchestratorVersion"] = props["orchestratorVersion"]
    props.setdefault("osSKU", "Ubuntu" if os_type == "Linux" else "Windows2022")
    props.setdefault("osDiskType", "Managed")
    props.setdefault("maxPods", 250)
    props.setdefault("enableAutoScaling", False)
    check_spot(props, existing)
    props.setdefault("nodeImageVersion", DEFAULT_NODE_IMAGE)
    props["nodeLabels"], props["nodeTaints"] = labels, taints
    return PoolSpec(props, size)


def _in_effect(rec: Json) -> Json:
    """A pool as it will be once its operation ends (a pool that is Starting already needs its quota)."""
    pool: Json = rec["resource"]
    target = rec.get("targetPowerState", "Running")
    if pool["properties"].get("powerState", {}).get("code") == target:
        return pool
    return {**pool, "properties": {**pool["properties"], "powerState": {"code": target}}}


def pools_in_effect(records: Iterable[Json]) -> list[Json]:
    return [_in_effect(rec) for rec in records]


def family_usage(pools: list[Json], family: str, *, except_id: str | None = None) -> int:
    """The vCPUs the pools hold in `family`: a stopped pool holds none."""
    usage = 0
    for pool in pools:
        if except_id is not None and pool["id"].lower() == except_id.lower():
            continue
        props = pool["properties"]
        other = find_size(props["vmSize"])
        if other is None or other.family != family or props.get("powerState", {}).get("code") == "Stopped":
            continue
        usage += other.vcpus * int(props.get("count", 0))
    return usage


def check_quota(
    spec: PoolSpec,
    *,
    pool_id: str,
    cluster: str,
    node_resource_group: str,
    location: str,
    pools: list[Json],
    quotas: dict[str, int],
    default_quota: int,
) -> None:
    """AKS's preflight: the family's cores in use elsewhere plus this pool's must fit the quota."""
    family = spec.size.family
    limit = quotas.get(family, default_quota)
    usage = family_usage(pools, family, except_id=pool_id)
    required = spec.size.vcpus * spec.node_count
    if usage + required <= limit:
        return
    raise ArmError(
        400,
        "QuotaExceeded",
        f"Preflight validation check for resource(s) for container service {cluster} in resource group "
        f"{node_resource_group} failed. Message: Operation could not be completed as it results in exceeding "
        f"approved {family} Cores quota. Additional details - Deployment Model: Resource Manager, Location: "
        f"{location}, Current Limit: {limit}, Current Usage: {usage}, Additional Required: {required}, "
        "(Minimum) "
        f"New Limit Required: {usage + required}. Submit a request for Quota increase at "
        "https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by specifying "
        "parameters listed in the 'Details' section for deployment to succeed. Please read more about quota "
        "limits at https://docs.microsoft.com/en-us/azure/azure-supportability/per-vm-quota-requests.",
        shape="aks",
    )
