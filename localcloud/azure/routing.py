"""The emulated REST surface: which path and method reach which handler, under which operation name
(the name fault rules and the request log use), and what RBAC action and scope ARM would check.

Paths match case-insensitively, as ARM's do (`resourceGroups` vs `resourcegroups`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from localcloud.azure import agentpools, clusters, entra, managed_identities, opstatus, roles, usages
from localcloud.azure.context import ArmCall

Handler = Callable[[ArmCall], Awaitable[web.Response]]
Auth = Literal["none", "token", "rbac"]

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_MC = _RG + r"/providers/Microsoft\.ContainerService/managedClusters"
_CLUSTER = _MC + r"/(?P<cluster>[^/]+)"
_UAMI = _RG + r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities"
_IDENTITY = _UAMI + r"/(?P<identity>[^/]+)"
_AUTHZ = r"(?P<scope>(?:/[^/]+)*?)/providers/Microsoft\.Authorization"
_OPS = _SUB + r"/providers/Microsoft\.ContainerService/locations/(?P<loc>[^/]+)"
_USAGES = _SUB + r"/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/usages"


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, tuple[str, Handler]]  # method -> (operation name, handler)
    auth: Auth
    resource_type: str = ""  # RBAC: "<provider>/<type path>", the action is this + /read|write|delete
    # RBAC scope: this path group; None: the whole path (or its parent on list)
    scope_group: str | None = None
    collection: bool = False  # a list endpoint: the scope is the parent resource


def _route(
    pattern: str,
    auth: Auth,
    methods: dict[str, tuple[str, Handler]],
    resource_type: str = "",
    scope_group: str | None = None,
    collection: bool = False,
) -> Route:
    return Route(
        re.compile("^" + pattern + "/?$", re.IGNORECASE),
        methods,
        auth,
        resource_type,
        scope_group,
        collection,
    )


def _resource(
    collection: str,
    key: str,
    name: str,
    auth: Auth,
    resource_type: str,
    *,
    get: Handler,
    list_: Handler,
    put: Handler | None = None,
    delete: Handler | None = None,
    scope_group: str | None = None,
) -> tuple[Route, Route]:
    """A resource's two routes: `collection/{key}` (get, put, delete) and `collection` (list).

    Operation names are `<name>.get|put|delete|list`; RBAC checks `resource_type` on the resource, or on
    the collection's parent when listing (or on `scope_group` when given).
    """
    methods = {"GET": (f"{name}.get", get)}
    if put is not None:
        methods["PUT"] = (f"{name}.put", put)
    if delete is not None:
        methods["DELETE"] = (f"{name}.delete", delete)
    return (
        _route(collection + rf"/(?P<{key}>[^/]+)", auth, methods, resource_type, scope_group),
        _route(
            collection, auth, {"GET": (f"{name}.list", list_)}, resource_type, scope_group, collection=True
        ),
    )


ROUTES: tuple[Route, ...] = (
    # Entra
    _route(r"/(?P<tenant>[^/_][^/]*)/oauth2/v2\.0/token", "none", {"POST": ("token.post", entra.token)}),
    _route(
        r"/(?P<tenant>[^/_][^/]*)/v2\.0/\.well-known/openid-configuration",
        "none",
        {"GET": ("openidConfiguration.get", entra.openid_configuration)},
    ),
    _route(r"/(?P<tenant>[^/_][^/]*)/discovery/v2\.0/keys", "none", {"GET": ("keys.get", entra.keys)}),
    # Microsoft.Authorization (before the others: the scope can be any resource id)
    *_resource(
        _AUTHZ + r"/roleAssignments",
        "name",
        "roleAssignments",
        "rbac",
        "Microsoft.Authorization/roleAssignments",
        get=roles.get_assignment,
        list_=roles.list_assignments,
        put=roles.put_assignment,
        delete=roles.delete_assignment,
        scope_group="scope",
    ),
    *_resource(
        _AUTHZ + r"/roleDefinitions",
        "role",
        "roleDefinitions",
        "token",
        "",
        get=roles.get_definition,
        list_=roles.list_definitions,
    ),
    # Microsoft.ContainerService
    _route(
        _OPS + r"/operations/(?P<op>[^/]+)", "token", {"GET": ("operations.get", opstatus.operation_status)}
    ),
    _route(
        _OPS + r"/operationresults/(?P<op>[^/]+)",
        "token",
        {"GET": ("operationResults.get", opstatus.operation_result)},
    ),
    *_resource(
        _CLUSTER + r"/agentPools",
        "pool",
        "agentPools",
        "rbac",
        "Microsoft.ContainerService/managedClusters/agentPools",
        get=agentpools.get_pool,
        list_=agentpools.list_pools,
        put=agentpools.put_pool,
        delete=agentpools.delete_pool,
    ),
    *_resource(
        _MC,
        "cluster",
        "managedClusters",
        "rbac",
        "Microsoft.ContainerService/managedClusters",
        get=clusters.get_cluster,
        list_=clusters.list_clusters,
        put=clusters.put_cluster,
    ),
    # Microsoft.Compute: the region's quota and usage per VM family. Azure checks
    # Microsoft.Compute/locations/usages/read on the subscription; the local cloud's worker holds
    # Contributor on its cluster only, so any caller with a token may read them here.
    _route(_USAGES, "token", {"GET": ("usages.list", usages.list_usages)}),
    # Microsoft.ManagedIdentity
    *_resource(
        _IDENTITY + r"/federatedIdentityCredentials",
        "fic",
        "federatedIdentityCredentials",
        "rbac",
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        get=managed_identities.get_credential,
        list_=managed_identities.list_credentials,
        put=managed_identities.put_credential,
        delete=managed_identities.delete_credential,
    ),
    *_resource(
        _UAMI,
        "identity",
        "userAssignedIdentities",
        "rbac",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        get=managed_identities.get_identity,
        list_=managed_identities.list_identities,
        put=managed_identities.put_identity,
        delete=managed_identities.delete_identity,
    ),
)

_ACTIONS = {
    "GET": "read",
    "HEAD": "read",
    "PUT": "write",
    "PATCH": "write",
    "POST": "action",
    "DELETE": "delete",
}


def resolve(path: str) -> tuple[Route, re.Match[str]] | None:
    for route in ROUTES:
        match = route.pattern.match(path)
        if match is not None:
            return route, match
    return None


def rbac_target(route: Route, match: re.Match[str], method: str, path: str) -> tuple[str, str]:
    """(action, scope) ARM authorizes this call against."""
    action = f"{route.resource_type}/{_ACTIONS.get(method, 'action')}"
    if route.scope_group is not None:
        scope = match.group(route.scope_group) or "/"
    elif route.collection:
        scope = path.rstrip("/").rsplit("/", 1)[0]
        if scope.lower().split("/")[-2] == "providers":  # ".../providers/<namespace>": the resource group
            scope = scope.rsplit("/", 2)[0]
    else:
        scope = path.rstrip("/")
    return action, scope
