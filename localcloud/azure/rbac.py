"""Azure RBAC: built-in role definitions and the check ARM makes before every call (403 AuthorizationFailed).

A principal may perform an action on a scope when one of its role assignments sits at that scope or an
ancestor of it and the role's actions (minus notActions) cover the action.
"""

from __future__ import annotations

import fnmatch
import uuid
from dataclasses import dataclass

from localcloud.azure.errors import ArmError
from localcloud.azure.state import Json


@dataclass(frozen=True)
class RoleDefinition:
    id: str
    name: str
    description: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        a = action.lower()

        def hit(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatchcase(a, p.lower()) for p in patterns)

        return hit(self.actions) and not hit(self.not_actions)


OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"

BUILTIN_ROLES: dict[str, RoleDefinition] = {
    r.id: r
    for r in (
        RoleDefinition(
            OWNER,
            "Owner",
            "Grants full access to manage all resources, including the ability to "
            "assign roles in Azure RBAC.",
            ("*",),
        ),
        RoleDefinition(
            CONTRIBUTOR,
            "Contributor",
            "Grants full access to manage all resources, but does not "
            "allow you to assign roles in Azure RBAC.",
            ("*",),
            (
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
            ),
        ),
        RoleDefinition(
            READER, "Reader", "View all resources, but does not allow you to make any changes.", ("*/read",)
        ),
        RoleDefinition(
            USER_ACCESS_ADMINISTRATOR,
            "User Access Administrator",
            "Lets you manage user access to Azure resources.",
            ("*/read", "Microsoft.Authorization/*"),
        ),
        RoleDefinition(
            "ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8",
            "Azure Kubernetes Service Contributor Role",
            "Grants access to read and write Azure Kubernetes Service clusters",
            ("Microsoft.ContainerService/managedClusters/*", "*/read"),
        ),
        RoleDefinition(
            "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59",
            "Managed Identity Contributor",
            "Create, Read, Update, and Delete User Assigned Identity",
            ("Microsoft.ManagedIdentity/userAssignedIdentities/*", "*/read"),
        ),
        RoleDefinition(
            "f1a07417-d97a-45cb-824c-7a7467783830",
            "Managed Identity Operator",
            "Read and Assign User Assigned Identity",
            ("*/read",),
        ),
    )
}


def role_guid(role_definition_id: str) -> str:
    """The trailing GUID of any spelling of a role definition id (ARM compares roles by it)."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def within(resource: str, scope: str) -> bool:
    """Whether `resource` is `scope` or lies below it (ARM ids compare case-insensitively)."""
    r, s = resource.rstrip("/").lower(), scope.rstrip("/").lower()
    return s == "" or r == s or r.startswith(s + "/")


def definition_body(scope: str, role: RoleDefinition) -> Json:
    return {
        "id": f"{scope.rstrip('/')}/providers/Microsoft.Authorization/roleDefinitions/{role.id}",
        "name": role.id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": role.name,
            "type": "BuiltInRole",
            "description": role.description,
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": list(role.actions),
                    "notActions": list(role.not_actions),
                    "dataActions": [],
                    "notDataActions": [],
                }
            ],
        },
    }


def authorize(assignments: list[Json], principal_id: str, app_id: str, action: str, scope: str) -> None:
    for ra in assignments:
        props = ra["properties"]
        if props["principalId"].lower() != principal_id.lower() or not within(scope, props["scope"]):
            continue
        role = BUILTIN_ROLES.get(role_guid(props["roleDefinitionId"]))
        if role is not None and role.allows(action):
            return
    raise ArmError(
        403,
        "AuthorizationFailed",
        f"The client '{app_id}' with object id '{principal_id}' does not have authorization to perform "
        "action "
        f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please "
        "refresh your credentials.",
    )
