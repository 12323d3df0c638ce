"""agentPools: PUT/GET/LIST/DELETE with ARM's async protocol and AKS's provisioning-state machine.

PUT answers 201 (new) or 200 (existing) with the pool in Creating/Scaling/Updating/Starting/Stopping and an
`Azure-AsyncOperation` URL; DELETE answers 202 (Deleting) or 204 (already gone). The operation ends after
the configured duration, and the pool's events tell the GPU-node bridge what nodes should exist.
"""

from __future__ import annotations

from aiohttp import web

from localcloud.azure import clusters, poolrules
from localcloud.azure.context import ArmCall, Cloud, arm_json
from localcloud.azure.errors import ArmError, not_found
from localcloud.azure.operations import Operation
from localcloud.azure.state import Json


def _busy(pool: Json) -> ArmError:
    return ArmError(
        409,
        "OperationNotAllowed",
        f"Operation is not allowed: Another agentpool operation ({pool['name']} - "
        f"{pool['properties']['provisioningState']}) is in progress, please wait for it to finish before "
        "starting a new operation. See https://aka.ms/aks-pending-operation for more details",
        shape="aks",
    )


def _check_cluster_idle(cloud: Cloud, cluster: Json) -> None:
    running = cloud.ops.in_flight_for(cluster["id"])
    if running is not None:
        raise ArmError(
            409,
            "OperationNotAllowed",
            "Operation is not allowed because there's an in progress "
            f"{running.kind} operation on the managed cluster {cluster['name']}. See "
            "https://aka.ms/aks-pending-operation for more details",
            shape="aks",
        )


def _locate(call: ArmCall) -> tuple[Json, str]:
    """(cluster record, canonical pool id) for the call's path."""
    rec = clusters.find(call.cloud, call.param("sub"), call.param("rg"), call.param("cluster"))
    return rec, f"{rec['resource']['id']}/agentPools/{call.param('pool')}"


async def get_pool(call: ArmCall) -> web.Response:
    cluster, pid = _locate(call)
    rec = call.cloud.state.agent_pools.get(pid.lower())
    if rec is None:
        raise not_found(
            f"Microsoft.ContainerService/managedClusters/{cluster['resource']['name']}/agentPools",
            call.param("pool"),
            call.param("rg"),
        )
    return arm_json(rec["resource"])


async def list_pools(call: ArmCall) -> web.Response:
    rec = clusters.find(call.cloud, call.param("sub"), call.param("rg"), call.param("cluster"))
    return arm_json(
        {"value": [p["resource"] for p in clusters.pool_records(call.cloud, rec["resource"]["id"])]}
    )


def _transition(old: Json | None, new: Json) -> tuple[str, str]:
    """(provisioningState during the operation, operation kind)."""
    if old is None:
        return "Creating", "agentPool.create"
    old_power, new_power = old["powerState"]["code"], new["powerState"]["code"]
    if old_power != new_power:
        return ("Stopping" if new_power == "Stopped" else "Starting"), "agentPool.update"
    if int(old.get("count", 0)) != int(new["count"]):
        return "Scaling", "agentPool.update"
    return "Updating", "agentPool.update"


async def put_pool(call: ArmCall) -> web.Response:
    cloud = call.cloud
    cluster_rec, pid = _locate(call)
    cluster = cluster_rec["resource"]
    name = call.param("pool")
    body = await call.body()
    rec = cloud.state.agent_pools.get(pid.lower())
    if rec is not None and cloud.ops.in_flight_for(pid) is not None:
        raise _busy(rec["resource"])
    _check_cluster_idle(cloud, cluster)
    siblings = [p["resource"] for p in clusters.pool_records(cloud, cluster["id"]) if p is not rec]
    old_props: Json | None = rec["resource"]["properties"] if rec is not None else None
    spec = poolrules.validate(
        name if rec is None else rec["resource"]["name"],
        body,
        existing=old_props,
        location=cluster["location"],
        kubernetes_version=cluster["properties"]["kubernetesVersion"],
        allowed_sizes=cloud.config.allowed_vm_sizes,
        other_system_pools=sum(1 for p in siblings if p["properties"].get("mode") == "System"),
    )
    all_pools = poolrules.pools_in_effect(cloud.state.agent_pools.values())
    poolrules.check_quota(
        spec,
        pool_id=pid,
        cluster=cluster["name"],
        node_resource_group=cluster["properties"]["nodeResourceGroup"],
        location=cluster["location"],
        pools=all_pools,
        quotas=cloud.config.family_quotas,
        default_quota=cloud.config.default_family_quota,
    )

    state_during, kind = _transition(old_props, spec.properties)
    target_power = spec.properties["powerState"]["code"]
    props = spec.properties
    if old_props is not None:
        props["powerState"] = dict(old_props["powerState"])  # flips when the operation succeeds
    props["provisioningState"] = state_during
    if rec is None:
        pool = clusters.new_pool_resource(cluster["id"], name, props)
        rec = clusters.pool_record(pool, target_power)
        cloud.state.agent_pools[pid.lower()] = rec
        status = 201
    else:
        rec["resource"]["properties"] = props
        rec["targetPowerState"] = target_power
        status = 200
    op = call.start_operation(
        kind, rec["resource"]["id"], cluster["location"], _duration(cloud, kind, state_during)
    )
    cloud.events.emit("provisioning", rec["resource"], op.id)
    cloud.store.save()
    return arm_json(rec["resource"], status, cloud.lro_headers(op))


def _duration(cloud: Cloud, kind: str, state_during: str) -> float:
    d = cloud.config.durations
    if kind == "agentPool.create":
        return d.pool_create
    if kind == "agentPool.delete":
        return d.pool_delete
    return d.pool_scale if state_during in ("Scaling", "Starting") else d.pool_update


async def delete_pool(call: ArmCall) -> web.Response:
    cloud = call.cloud
    cluster_rec, pid = _locate(call)
    cluster = cluster_rec["resource"]
    rec = cloud.state.agent_pools.get(pid.lower())
    if rec is None:
        return web.Response(status=204)
    pool = rec["resource"]
    if cloud.ops.in_flight_for(pid) is not None:
        raise _busy(pool)
    _check_cluster_idle(cloud, cluster)
    if pool["properties"].get("mode") == "System":
        others = [
            p
            for p in clusters.pool_records(cloud, cluster["id"])
            if p is not rec and p["resource"]["properties"].get("mode") == "System"
        ]
        if not others:
            raise ArmError(
                400,
                "OperationNotAllowed",
                f"Cannot delete agent pool '{pool['name']}': it is the "
                "last System mode agent pool of the cluster.",
                shape="aks",
            )
    pool["properties"]["provisioningState"] = "Deleting"
    op = call.start_operation(
        "agentPool.delete", pool["id"], cluster["location"], cloud.config.durations.pool_delete
    )
    cloud.events.emit("provisioning", pool, op.id)
    cloud.store.save()
    return web.Response(status=202, headers=cloud.lro_headers(op, location=True))


def finish(cloud: Cloud, op: Operation) -> None:
    """How a pool operation ends; emits the event the GPU-node bridge acts on."""
    key = op.resource_id.lower()
    rec = cloud.state.agent_pools.get(key)
    if rec is None:
        return
    pool = rec["resource"]
    props = pool["properties"]
    if op.status != "Succeeded":
        props["provisioningState"] = "Canceled" if op.status == "Canceled" else "Failed"
        cloud.events.emit("failed", pool, op.id, op.outcome_error)
        return
    if op.kind == "agentPool.delete":
        del cloud.state.agent_pools[key]
        props["provisioningState"] = "Deleted"
        cloud.events.emit("deleted", pool, op.id)
        return
    props["provisioningState"] = "Succeeded"
    props["powerState"] = {"code": rec.get("targetPowerState", "Running")}
    cloud.events.emit("succeeded", pool, op.id)


def register(cloud: Cloud) -> None:
    for kind in ("agentPool.create", "agentPool.update", "agentPool.delete"):
        cloud.ops.register(kind, lambda op: finish(cloud, op))
