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

from localcloud.azure import agentpools, clusters, entra, managed_identities, opstatus, roles
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


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, tuple[str, Handler]]  # method -> (operation name, handler)
    auth: Auth
    resource_type: str = ""  # RBAC: "<provider>/<type path>", the action is this + /read|write|delete
    scope_group: str | None = (
        None  # RBAC scope: this path group; None: the whole path (or its parent on list)
    )
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
    _route(
        _AUTHZ + r"/roleAssignments/(?P<name>[^/]+)",
        "rbac",
        {
            "GET": ("roleAssignments.get", roles.get_assignment),
            "PUT": ("roleAssignments.put", roles.put_assignment),
            "DELETE": ("roleAssignments.delete", roles.delete_assignment),
        },
        "Microsoft.Authorization/roleAssignments",
        scope_group="scope",
    ),
    _route(
        _AUTHZ + r"/roleAssignments",
        "rbac",
        {"GET": ("roleAssignments.list", roles.list_assignments)},
        "Microsoft.Authorization/roleAssignments",
        scope_group="scope",
    ),
    _route(
        _AUTHZ + r"/roleDefinitions/(?P<role>[^/]+)",
        "token",
        {"GET": ("roleDefinitions.get", roles.get_definition)},
    ),
    _route(_AUTHZ + r"/roleDefinitions", "token", {"GET": ("roleDefinitions.list", roles.list_definitions)}),
    # Microsoft.ContainerService
    _route(
        _OPS + r"/operations/(?P<op>[^/]+)", "token", {"GET": ("operations.get", opstatus.operation_status)}
    ),
    _route(
        _OPS + r"/operationresults/(?P<op>[^/]+)",
        "token",
        {"GET": ("operationResults.get", opstatus.operation_result)},
    ),
    _route(
        _CLUSTER + r"/agentPools/(?P<pool>[^/]+)",
        "rbac",
        {
            "GET": ("agentPools.get", agentpools.get_pool),
            "PUT": ("agentPools.put", agentpools.put_pool),
            "DELETE": ("agentPools.delete", agentpools.delete_pool),
        },
        "Microsoft.ContainerService/managedClusters/agentPools",
    ),
    _route(
        _CLUSTER + r"/agentPools",
        "rbac",
        {"GET": ("agentPools.list", agentpools.list_pools)},
        "Microsoft.ContainerService/managedClusters/agentPools",
        collection=True,
    ),
    _route(
        _CLUSTER,
        "rbac",
        {
            "GET": ("managedClusters.get", clusters.get_cluster),
            "PUT": ("managedClusters.put", clusters.put_cluster),
        },
        "Microsoft.ContainerService/managedClusters",
    ),
    _route(
        _MC,
        "rbac",
        {"GET": ("managedClusters.list", clusters.list_clusters)},
        "Microsoft.ContainerService/managedClusters",
        collection=True,
    ),
    # Microsoft.ManagedIdentity
    _route(
        _IDENTITY + r"/federatedIdentityCredentials/(?P<fic>[^/]+)",
        "rbac",
        {
            "GET": ("federatedIdentityCredentials.get", managed_identities.get_credential),
            "PUT": ("federatedIdentityCredentials.put", managed_identities.put_credential),
            "DELETE": ("federatedIdentityCredentials.delete", managed_identities.delete_credential),
        },
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
    ),
    _route(
        _IDENTITY + r"/federatedIdentityCredentials",
        "rbac",
        {"GET": ("federatedIdentityCredentials.list", managed_identities.list_credentials)},
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        collection=True,
    ),
    _route(
        _IDENTITY,
        "rbac",
        {
            "GET": ("userAssignedIdentities.get", managed_identities.get_identity),
            "PUT": ("userAssignedIdentities.put", managed_identities.put_identity),
            "DELETE": ("userAssignedIdentities.delete", managed_identities.delete_identity),
        },
        "Microsoft.ManagedIdentity/userAssignedIdentities",
    ),
    _route(
        _UAMI,
        "rbac",
        {"GET": ("userAssignedIdentities.list", managed_identities.list_identities)},
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        collection=True,
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
