"""managedClusters: GET/PUT (a long-running operation) with the OIDC issuer and workload identity.

The issuer URL appears only once `oidcIssuerProfile.enabled` is true and the operation has succeeded,
as on AKS; it is the configured cluster issuer, so tokens that cluster signs verify against it.
"""

from __future__ import annotations

import copy
import time
import uuid

from aiohttp import web

from localcloud.azure import poolrules
from localcloud.azure.config import ClusterSeed
from localcloud.azure.context import ArmCall, Cloud, arm_json, check_location, required_location
from localcloud.azure.errors import ArmError, invalid_content, not_found
from localcloud.azure.operations import Operation
from localcloud.azure.state import Json

CLUSTER_TYPE = "Microsoft.ContainerService/ManagedClusters"
POOL_TYPE = "Microsoft.ContainerService/managedClusters/agentPools"
READ_ONLY = (
    "provisioningState",
    "powerState",
    "fqdn",
    "azurePortalFQDN",
    "privateFQDN",
    "currentKubernetesVersion",
    "maxAgentPools",
    "agentPoolProfiles",
    "resourceUID",
    "identityProfile",
)


def cluster_id(subscription_id: str, resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.ContainerService/managedClusters/{name}"
    )


def pool_records(cloud: Cloud, cid: str) -> list[Json]:
    prefix = cid.lower() + "/agentpools/"
    return [rec for key, rec in cloud.state.agent_pools.items() if key.startswith(prefix)]


def pool_record(pool: Json, target_power: str = "Running") -> Json:
    return {"resource": pool, "targetPowerState": target_power}


def new_pool_resource(cid: str, name: str, props: Json) -> Json:
    return {"id": f"{cid}/agentPools/{name}", "name": name, "type": POOL_TYPE, "properties": props}


def _new_cluster(cloud: Cloud, rg: str, name: str, location: str, k8s: str) -> Json:
    cid = cluster_id(cloud.config.subscription_id, rg, name)
    return {
        "id": cid,
        "name": name,
        "type": CLUSTER_TYPE,
        "location": location,
        "tags": {},
        "sku": {"name": "Base", "tier": "Free"},
        "identity": {
            "type": "SystemAssigned",
            "principalId": str(uuid.uuid4()),
            "tenantId": cloud.config.tenant_id,
        },
        "properties": {
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "kubernetesVersion": k8s,
            "currentKubernetesVersion": k8s,
            "dnsPrefix": f"{name}-dns",
            "fqdn": f"{name}-dns-{uuid.uuid4().hex[:8]}.hcp.{location}.azmk8s.io",
            "nodeResourceGroup": f"MC_{rg}_{name}_{location}",
            "enableRBAC": True,
            "maxAgentPools": 100,
            "oidcIssuerProfile": {"enabled": False},
            "securityProfile": {},
            "networkProfile": {
                "networkPlugin": "azure",
                "networkPluginMode": "overlay",
                "loadBalancerSku": "standard",
                "outboundType": "loadBalancer",
            },
        },
    }


def seed(cloud: Cloud) -> None:
    """Create the configured clusters (each with its System pool) unless the state already has them."""
    for s in cloud.config.clusters:
        if s.resource_group not in cloud.config.resource_groups:
            cloud.config.resource_groups.append(s.resource_group)
        cid = cluster_id(cloud.config.subscription_id, s.resource_group, s.name)
        if cid.lower() in cloud.state.clusters:
            continue
        cluster = _new_cluster(cloud, s.resource_group, s.name, cloud.config.location, s.kubernetes_version)
        cloud.state.clusters[cid.lower()] = {"resource": cluster, "issuerURL": cloud.config.issuer_for(s)}
        spec = poolrules.validate(
            s.system_pool_name,
            {"properties": {"vmSize": s.system_pool_vm_size, "count": s.system_pool_count, "mode": "System"}},
            existing=None,
            location=cloud.config.location,
            kubernetes_version=s.kubernetes_version,
            allowed_sizes=None,
            other_system_pools=0,
        )
        spec.properties["provisioningState"] = "Succeeded"
        pool = new_pool_resource(cid, s.system_pool_name, spec.properties)
        cloud.state.agent_pools[pool["id"].lower()] = pool_record(pool)


def refresh_issuers(cloud: Cloud) -> None:
    """Apply the configured issuer to seeded clusters (a restart may point them at a new issuer)."""
    seeds: dict[str, ClusterSeed] = {
        cluster_id(cloud.config.subscription_id, s.resource_group, s.name).lower(): s
        for s in cloud.config.clusters
    }
    for key, rec in cloud.state.clusters.items():
        if key in seeds:
            rec["issuerURL"] = cloud.config.issuer_for(seeds[key])
            oidc = rec["resource"]["properties"].get("oidcIssuerProfile", {})
            if oidc.get("enabled") and oidc.get("issuerURL"):
                oidc["issuerURL"] = rec["issuerURL"]


def find(cloud: Cloud, subscription_id: str, resource_group: str, name: str) -> Json:
    rg = cloud.check_resource_group(subscription_id, resource_group)
    rec = cloud.state.clusters.get(cluster_id(subscription_id, rg, name).lower())
    if rec is None:
        raise not_found("Microsoft.ContainerService/managedClusters", name, rg)
    return rec


def render(cloud: Cloud, rec: Json) -> Json:
    body: Json = copy.deepcopy(rec["resource"])
    body["properties"]["agentPoolProfiles"] = [
        {"name": p["resource"]["name"], **copy.deepcopy(p["resource"]["properties"])}
        for p in pool_records(cloud, body["id"])
    ]
    return body


def busy_pool(cloud: Cloud, cid: str) -> Json | None:
    for rec in pool_records(cloud, cid):
        if cloud.ops.in_flight_for(rec["resource"]["id"]) is not None:
            return rec
    return None


async def get_cluster(call: ArmCall) -> web.Response:
    rec = find(call.cloud, call.param("sub"), call.param("rg"), call.param("cluster"))
    return arm_json(render(call.cloud, rec))


async def list_clusters(call: ArmCall) -> web.Response:
    rg = call.cloud.check_resource_group(call.param("sub"), call.param("rg"))
    prefix = cluster_id(call.param("sub"), rg, "").lower()
    value = [
        render(call.cloud, rec) for key, rec in call.cloud.state.clusters.items() if key.startswith(prefix)
    ]
    return arm_json({"value": value})


def _merge_properties(old: Json, new: Json) -> Json:
    merged = copy.deepcopy(old)
    for key, value in new.items():
        if key in READ_ONLY:
            continue
        if key == "oidcIssuerProfile":
            enabled = value.get("enabled") if isinstance(value, dict) else None
            merged["oidcIssuerProfile"] = {**merged.get("oidcIssuerProfile", {}), "enabled": bool(enabled)}
        elif key == "nodeResourceGroup":
            if value and str(value).lower() != str(old.get(key, "")).lower():
                raise ArmError(
                    400,
                    "PropertyChangeNotAllowed",
                    "Changing property 'nodeResourceGroup' is not allowed.",
                    target="nodeResourceGroup",
                    shape="aks",
                )
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _check_identity_features(old: Json, new: Json) -> None:
    was_oidc = bool(old.get("oidcIssuerProfile", {}).get("enabled"))
    oidc = bool(new.get("oidcIssuerProfile", {}).get("enabled"))
    if was_oidc and not oidc:
        raise ArmError(
            400,
            "BadRequest",
            "The OIDC issuer feature cannot be disabled once it is enabled.",
            target="oidcIssuerProfile.enabled",
            shape="aks",
        )
    security = new.get("securityProfile") or {}
    workload = security.get("workloadIdentity") if isinstance(security, dict) else None
    if isinstance(workload, dict) and workload.get("enabled") and not oidc:
        raise ArmError(
            400,
            "InvalidParameter",
            "Enabling workload identity requires enabling the OIDC issuer "
            "profile (oidcIssuerProfile.enabled).",
            target="securityProfile.workloadIdentity",
            shape="aks",
        )


async def put_cluster(call: ArmCall) -> web.Response:
    cloud = call.cloud
    sub, name = call.param("sub"), call.param("cluster")
    rg = cloud.check_resource_group(sub, call.param("rg"))
    body = await call.body()
    props = body.get("properties", {})
    if not isinstance(props, dict):
        raise invalid_content("'properties' must be an object")
    location = required_location(body)
    cid = cluster_id(sub, rg, name)
    rec = cloud.state.clusters.get(cid.lower())
    if rec is None:
        return _create_cluster(call, rg, name, location, body, props)

    cluster = rec["resource"]
    check_location(cluster, name, rg, location)
    running = cloud.ops.in_flight_for(cid)
    if running is not None:
        raise _busy(
            f"Operation is not allowed because there's an in progress {running.kind} operation on the "
            f"managed cluster {name} started at {time.ctime(running.start)}."
        )
    pool = busy_pool(cloud, cid)
    if pool is not None:
        rp = pool["resource"]
        raise _busy(
            f"Operation is not allowed: Another agentpool operation ({rp['name']} - "
            f"{rp['properties']['provisioningState']}) is in progress, please wait for it to finish "
            "before starting a new operation."
        )
    known = {p["resource"]["name"].lower() for p in pool_records(cloud, cid)}
    for profile in props.get("agentPoolProfiles") or []:
        if isinstance(profile, dict) and str(profile.get("name", "")).lower() not in known:
            raise ArmError(
                400,
                "BadRequest",
                "A new agent pool was introduced. Adding agent pools to an existing "
                "cluster is not allowed through managed cluster operations. For agent pool specific "
                "change, please use per agent pool operations: https://aka.ms/agent-pool-rest-api",
                shape="aks",
            )
    old_props = cluster["properties"]
    new_props = _merge_properties(old_props, props)
    _check_identity_features(old_props, new_props)

    new_props["provisioningState"] = "Updating"
    cluster["properties"] = new_props
    if isinstance(body.get("tags"), dict):
        cluster["tags"] = body["tags"]
    op = call.start_operation(
        "managedCluster.update", cid, cluster["location"], cloud.config.durations.cluster_update
    )
    cloud.store.save()
    return arm_json(render(cloud, rec), 200, cloud.lro_headers(op))


def _create_cluster(
    call: ArmCall, rg: str, name: str, location: str, body: Json, props: Json
) -> web.Response:
    cloud = call.cloud
    default_k8s = cloud.config.clusters[0].kubernetes_version if cloud.config.clusters else "1.33.2"
    k8s = str(props.get("kubernetesVersion") or default_k8s)
    cluster = _new_cluster(cloud, rg, name, location.replace(" ", "").lower(), k8s)
    cid = cluster["id"]
    profiles = props.get("agentPoolProfiles")
    if not isinstance(profiles, list) or not profiles:
        raise ArmError(
            400,
            "InvalidParameter",
            "A managed cluster needs at least one agent pool profile.",
            target="agentPoolProfiles",
            shape="aks",
        )
    specs: list[tuple[str, poolrules.PoolSpec]] = []
    for profile in profiles:
        if not isinstance(profile, dict) or not isinstance(profile.get("name"), str):
            raise invalid_content("every agentPoolProfile needs a name")
        pool_props = {k: v for k, v in profile.items() if k != "name"}
        specs.append(
            (
                profile["name"],
                poolrules.validate(
                    profile["name"],
                    {"properties": pool_props},
                    existing=None,
                    location=cluster["location"],
                    kubernetes_version=k8s,
                    allowed_sizes=cloud.config.allowed_vm_sizes,
                    other_system_pools=0,
                ),
            )
        )
    if not any(spec.properties["mode"] == "System" for _, spec in specs):
        raise ArmError(
            400,
            "InvalidParameter",
            "A managed cluster needs at least one System mode agent pool.",
            target="agentPoolProfiles",
            shape="aks",
        )
    new_props = _merge_properties(cluster["properties"], props)
    _check_identity_features({}, new_props)
    new_props["provisioningState"] = "Creating"
    cluster["properties"] = new_props
    if isinstance(body.get("tags"), dict):
        cluster["tags"] = body["tags"]
    issuer = (
        cloud.config.oidc_issuer_url
        or f"https://{cluster['location']}.oic.prod-aks.azure.com/{cloud.config.tenant_id}/{uuid.uuid4()}/"
    )
    rec = {"resource": cluster, "issuerURL": issuer}
    cloud.state.clusters[cid.lower()] = rec
    for pool_name, spec in specs:
        spec.properties["provisioningState"] = "Creating"
        pool = new_pool_resource(cid, pool_name, spec.properties)
        cloud.state.agent_pools[pool["id"].lower()] = pool_record(pool)
        cloud.events.emit("provisioning", pool)
    op = call.start_operation(
        "managedCluster.create", cid, cluster["location"], cloud.config.durations.cluster_update
    )
    cloud.store.save()
    return arm_json(render(cloud, rec), 201, cloud.lro_headers(op))


def _busy(message: str) -> ArmError:
    return ArmError(
        409,
        "OperationNotAllowed",
        message + " See https://aka.ms/aks-pending-operation for more details",
        shape="aks",
    )


def finish(cloud: Cloud, op: Operation) -> None:
    """How a cluster operation ends: issuer published on success, provisioningState Failed otherwise."""
    rec = cloud.state.clusters.get(op.resource_id.lower())
    if rec is None:
        return
    props = rec["resource"]["properties"]
    ok = op.status == "Succeeded"
    props["provisioningState"] = "Succeeded" if ok else op.status
    oidc = props.setdefault("oidcIssuerProfile", {"enabled": False})
    if ok and oidc.get("enabled"):
        oidc["issuerURL"] = rec["issuerURL"]
    if op.kind == "managedCluster.create":
        for pool_rec in pool_records(cloud, rec["resource"]["id"]):
            pool = pool_rec["resource"]
            pool["properties"]["provisioningState"] = "Succeeded" if ok else "Failed"
            cloud.events.emit("succeeded" if ok else "failed", pool, op.id, op.outcome_error)


def register(cloud: Cloud) -> None:
    cloud.ops.register("managedCluster.update", lambda op: finish(cloud, op))
    cloud.ops.register("managedCluster.create", lambda op: finish(cloud, op))
