"""Emulator rules without a server: pool validation, quota arithmetic, RBAC scopes, routing, the rate
limiter and configuration round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.azure import EmulatorConfig
from localcloud.azure.errors import ArmError
from localcloud.azure.poolrules import check_name, check_quota, validate
from localcloud.azure.ratelimit import RateLimiter
from localcloud.azure.rbac import BUILTIN_ROLES, CONTRIBUTOR, within
from localcloud.azure.routing import rbac_target, resolve

SUB = "/subscriptions/s"
CLUSTER_ID = f"{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"


def _validate(
    name: str, props: dict[str, object], existing: dict[str, object] | None = None
) -> dict[str, object]:
    spec = validate(
        name,
        {"properties": props},
        existing=existing,
        location="eastus",
        kubernetes_version="1.33.2",
        allowed_sizes=None,
        other_system_pools=1,
    )
    return spec.properties


@pytest.mark.parametrize("name", ["a", "gpu", "gpua100", "abcdefghijkl", "z9"])
def test_legal_linux_names(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize("name", ["", "A", "9a", "gpu-1", "gpu_1", "abcdefghijklm"])
def test_illegal_linux_names(name: str) -> None:
    with pytest.raises(ArmError) as err:
        check_name(name)
    assert (err.value.status, err.value.code) == (400, "InvalidParameter")


def test_defaults_and_case_insensitive_sizes() -> None:
    props = _validate("gpu", {"vmSize": "standard_nc24ads_a100_v4"})
    assert props["vmSize"] == "Standard_NC24ads_A100_v4"
    assert (props["count"], props["mode"], props["osType"], props["powerState"]) == (
        1,
        "User",
        "Linux",
        {"code": "Running"},
    )


def test_quota_counts_other_pools_and_ignores_stopped() -> None:
    spec = validate(
        "b",
        {"properties": {"vmSize": "Standard_NC24ads_A100_v4", "count": 1}},
        existing=None,
        location="eastus",
        kubernetes_version="1",
        allowed_sizes=None,
        other_system_pools=1,
    )
    other = {
        "id": CLUSTER_ID + "/agentPools/a",
        "properties": {"vmSize": "Standard_NC48ads_A100_v4", "count": 1, "powerState": {"code": "Running"}},
    }
    kwargs = {
        "pool_id": CLUSTER_ID + "/agentPools/b",
        "cluster": "c",
        "node_resource_group": "MC",
        "location": "eastus",
        "default_quota": 0,
    }
    check_quota(spec, pools=[other], quotas={"standardNCADSA100v4Family": 72}, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ArmError) as err:
        check_quota(spec, pools=[other], quotas={"standardNCADSA100v4Family": 71}, **kwargs)  # type: ignore[arg-type]
    assert err.value.code == "QuotaExceeded"
    other["properties"]["powerState"] = {"code": "Stopped"}  # type: ignore[index]
    check_quota(spec, pools=[other], quotas={"standardNCADSA100v4Family": 24}, **kwargs)  # type: ignore[arg-type]


def test_scope_containment_and_roles() -> None:
    assert within(CLUSTER_ID + "/agentPools/gpu", CLUSTER_ID)
    assert within(CLUSTER_ID.upper(), CLUSTER_ID)
    assert not within(CLUSTER_ID + "2/agentPools/gpu", CLUSTER_ID)
    assert within(CLUSTER_ID, "/")
    contributor = BUILTIN_ROLES[CONTRIBUTOR]
    assert contributor.allows("Microsoft.ContainerService/managedClusters/agentPools/write")
    assert not contributor.allows("Microsoft.Authorization/roleAssignments/write")


@pytest.mark.parametrize(
    ("method", "path", "op", "action", "scope"),
    [
        (
            "PUT",
            CLUSTER_ID + "/agentPools/gpu",
            "agentPools.put",
            "Microsoft.ContainerService/managedClusters/agentPools/write",
            CLUSTER_ID + "/agentPools/gpu",
        ),
        (
            "GET",
            CLUSTER_ID.lower() + "/agentpools",
            "agentPools.list",
            "Microsoft.ContainerService/managedClusters/agentPools/read",
            CLUSTER_ID.lower(),
        ),
        (
            "PUT",
            CLUSTER_ID + "/providers/Microsoft.Authorization/roleAssignments/g",
            "roleAssignments.put",
            "Microsoft.Authorization/roleAssignments/write",
            CLUSTER_ID,
        ),
        (
            "GET",
            f"{SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
            "userAssignedIdentities.list",
            "Microsoft.ManagedIdentity/userAssignedIdentities/read",
            f"{SUB}/resourceGroups/rg",
        ),
    ],
)
def test_routing_and_rbac_targets(method: str, path: str, op: str, action: str, scope: str) -> None:
    resolved = resolve(path)
    assert resolved is not None
    route, match = resolved
    assert route.methods[method][0] == op
    assert rbac_target(route, match, method, path) == (action, scope)


def test_rate_limiter_bucket() -> None:
    limiter = RateLimiter()
    results = [limiter.take("p", "writes") for _ in range(201)]
    assert results[0] == (True, 199, 0) and results[199][0] is True
    allowed, remaining, wait = results[200]
    assert (allowed, remaining) == (False, 0) and wait >= 1


def test_config_json_round_trip(tmp_path: Path) -> None:
    """The launcher hands the child process its config as JSON: paths and nested settings survive."""
    cfg = EmulatorConfig.realistic(
        oidc_issuer_url="https://issuer.example/",
        state_file=tmp_path / "state.json",
        issuer_ca_files=[tmp_path],
    )
    again = EmulatorConfig.model_validate_json(cfg.model_dump_json())
    assert again == cfg
    assert again.durations.pool_create >= 60 and again.principal_replication_seconds > 0
    with pytest.raises(ValueError, match="no_such_setting"):
        EmulatorConfig.model_validate({"no_such_setting": 1})
