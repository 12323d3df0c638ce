"""Microsoft.Authorization: role assignments (PUT/GET/DELETE, list for a scope) and role definitions.

Reproduces what bites real bootstrap code: 409 RoleAssignmentExists for the same (scope, role, principal)
under another name, 400 PrincipalNotFound while a new identity replicates (when no principalType is given),
and 400 UnmatchedPrincipalType (azure-mgmt-authorization defaults principalType to "User").
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

from aiohttp import web

from localcloud.azure import rbac
from localcloud.azure.context import ArmCall, Cloud, arm_json
from localcloud.azure.errors import ArmError, invalid_content
from localcloud.azure.state import Json

RA_TYPE = "Microsoft.Authorization/roleAssignments"
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ForeignGroup", "Device")
_PRINCIPAL_FILTER = re.compile(r"^\s*principalId\s+eq\s+'([^']+)'\s*$", re.I)
_ASSIGNED_TO = re.compile(r"^\s*assignedTo\('([^']+)'\)\s*$", re.I)
_ROLE_NAME_FILTER = re.compile(r"^\s*roleName\s+eq\s+'([^']+)'\s*$", re.I)


def normalize_scope(scope: str) -> str:
    return "/" + scope.strip("/") if scope.strip("/") else "/"


def assignment_id(scope: str, name: str) -> str:
    return f"{scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/{name}"


def seed_operator(cloud: Cloud) -> None:
    """Register the operator's service principal and make it Owner of the subscription."""
    cfg = cloud.config
    cloud.state.principals.setdefault(
        cfg.operator_principal_id.lower(),
        {
            "type": "ServicePrincipal",
            "createdAt": 0.0,
            "clientId": cfg.operator_client_id,
            "displayName": "kaito-operator",
        },
    )
    scope = f"/subscriptions/{cfg.subscription_id}"
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{rbac.OWNER}|{cfg.operator_principal_id}"))
    rid = assignment_id(scope, name)
    if rid.lower() not in cloud.state.role_assignments:
        cloud.state.role_assignments[rid.lower()] = _assignment(
            cloud,
            scope,
            name,
            rbac.OWNER,
            cfg.operator_principal_id,
            "ServicePrincipal",
            cfg.operator_principal_id,
            None,
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _assignment(
    cloud: Cloud,
    scope: str,
    name: str,
    role: str,
    principal_id: str,
    principal_type: str,
    created_by: str,
    extra: Json | None,
) -> Json:
    now = _now()
    props: Json = {
        "roleDefinitionId": f"/subscriptions/{cloud.config.subscription_id}/providers/Microsoft.Authorization"
        f"/roleDefinitions/{role}",
        "principalId": principal_id,
        "principalType": principal_type,
        "scope": scope,
        "condition": None,
        "conditionVersion": None,
        "createdOn": now,
        "updatedOn": now,
        "createdBy": created_by,
        "updatedBy": created_by,
        "delegatedManagedIdentityResourceId": None,
        "description": None,
    }
    props.update(extra or {})
    return {"id": assignment_id(scope, name), "name": name, "type": RA_TYPE, "properties": props}


def _scope_subscription_check(cloud: Cloud, scope: str) -> None:
    parts = scope.strip("/").split("/")
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        cloud.check_subscription(parts[1])


async def put_assignment(call: ArmCall) -> web.Response:
    cloud = call.cloud
    scope, name = normalize_scope(call.param("scope")), call.param("name")
    _scope_subscription_check(cloud, scope)
    if not rbac.is_guid(name):
        raise ArmError(
            400,
            "InvalidRoleAssignmentId",
            f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
        )
    props = (await call.body()).get("properties")
    if not isinstance(props, dict):
        raise invalid_content("the role assignment must have a 'properties' object")
    role_ref, principal_id = props.get("roleDefinitionId"), props.get("principalId")
    if not isinstance(role_ref, str) or not isinstance(principal_id, str) or not role_ref or not principal_id:
        raise invalid_content("'roleDefinitionId' and 'principalId' are required")
    role = rbac.role_guid(role_ref)
    if role not in rbac.BUILTIN_ROLES:
        raise ArmError(
            400,
            "RoleDefinitionDoesNotExist",
            f"The specified role definition with ID '{role}' does not exist.",
        )
    given_type = props.get("principalType")
    if given_type is not None and given_type not in PRINCIPAL_TYPES:
        raise invalid_content(f"'principalType' must be one of {', '.join(PRINCIPAL_TYPES)}")
    principal_type = _check_principal(cloud, principal_id, given_type)

    rid = assignment_id(scope, name)
    existing = cloud.state.role_assignments.get(rid.lower())
    if existing is not None:
        ep = existing["properties"]
        same = (
            rbac.role_guid(ep["roleDefinitionId"]) == role
            and ep["principalId"].lower() == principal_id.lower()
            and ep["scope"].lower() == scope.lower()
        )
        if not same:
            raise ArmError(
                400,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            )
        return arm_json(existing, 200)
    for other in cloud.state.role_assignments.values():
        op = other["properties"]
        if (
            op["scope"].lower() == scope.lower()
            and rbac.role_guid(op["roleDefinitionId"]) == role
            and op["principalId"].lower() == principal_id.lower()
        ):
            raise ArmError(
                409,
                "RoleAssignmentExists",
                "The role assignment already exists. The ID of the "
                f"existing role assignment is {other['name'].replace('-', '')}.",
            )
    extra = {
        k: props[k]
        for k in ("description", "condition", "conditionVersion", "delegatedManagedIdentityResourceId")
        if k in props
    }
    created_by = call.principal.object_id if call.principal else ""
    ra = _assignment(cloud, scope, name, role, principal_id, principal_type, created_by, extra)
    cloud.state.role_assignments[rid.lower()] = ra
    cloud.store.save()
    return arm_json(ra, 201)


def _check_principal(cloud: Cloud, principal_id: str, given_type: str | None) -> str:
    """The principal type to record, or ARM's 400 for an unknown/replicating principal or a wrong type."""
    principal = cloud.state.principals.get(principal_id.lower())
    replicating = principal is not None and (
        time.time() - float(principal["createdAt"]) < cloud.config.principal_replication_seconds
    )
    if given_type is None:
        if principal is None or replicating:
            raise ArmError(
                400,
                "PrincipalNotFound",
                f"Principal {principal_id.replace('-', '')} does not exist in the directory "
                f"{cloud.config.tenant_id}. Check that you have the correct principal ID. If you are "
                "creating "
                "this principal and then immediately assigning a role, this error might be related to a "
                "replication delay. In this case, set the role assignment principalType property to a value, "
                "such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
            )
        return str(principal["type"])
    if principal is not None and principal["type"] != given_type:
        raise ArmError(
            400,
            "UnmatchedPrincipalType",
            f"The PrincipalId '{principal_id.replace('-', '')}' has "
            f"type '{principal['type']}' , which is different from specified PrincipalType "
            f"'{given_type}'.",
        )
    return given_type


async def get_assignment(call: ArmCall) -> web.Response:
    scope, name = normalize_scope(call.param("scope")), call.param("name")
    ra = call.cloud.state.role_assignments.get(assignment_id(scope, name).lower())
    if ra is None:
        raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
    return arm_json(ra)


async def delete_assignment(call: ArmCall) -> web.Response:
    scope, name = normalize_scope(call.param("scope")), call.param("name")
    ra = call.cloud.state.role_assignments.pop(assignment_id(scope, name).lower(), None)
    if ra is None:
        return web.Response(status=204)
    call.cloud.store.save()
    return arm_json(ra, 200)


async def list_assignments(call: ArmCall) -> web.Response:
    """list-for-scope: at, above and below the scope; `atScope()` keeps at and above; principal filters."""
    scope = normalize_scope(call.param("scope"))
    _scope_subscription_check(call.cloud, scope)
    flt = call.request.query.get("$filter", "").strip()
    principal: str | None = None
    at_scope = False
    for clause in [c for c in re.split(r"\s+and\s+", flt, flags=re.I) if c]:
        if clause.strip().lower() == "atscope()":
            at_scope = True
        elif m := (_PRINCIPAL_FILTER.match(clause) or _ASSIGNED_TO.match(clause)):
            principal = m.group(1).lower()
        else:
            raise ArmError(400, "UnsupportedQuery", f"The filter '{flt}' is not supported.")
    value = []
    for ra in call.cloud.state.role_assignments.values():
        props = ra["properties"]
        above = rbac.within(scope, props["scope"])
        below = rbac.within(props["scope"], scope)
        if not (above or (below and not at_scope)):
            continue
        if principal and props["principalId"].lower() != principal:
            continue
        value.append(ra)
    return arm_json({"value": value})


async def get_definition(call: ArmCall) -> web.Response:
    role = rbac.BUILTIN_ROLES.get(call.param("role").lower())
    if role is None:
        raise ArmError(
            404,
            "RoleDefinitionDoesNotExist",
            f"The role definition '{call.param('role')}' could not be found.",
        )
    return arm_json(rbac.definition_body(normalize_scope(call.param("scope")), role))


async def list_definitions(call: ArmCall) -> web.Response:
    scope = normalize_scope(call.param("scope"))
    flt = call.request.query.get("$filter", "")
    m = _ROLE_NAME_FILTER.match(flt) if flt else None
    roles = [r for r in rbac.BUILTIN_ROLES.values() if m is None or r.name.lower() == m.group(1).lower()]
    return arm_json({"value": [rbac.definition_body(scope, r) for r in roles]})
