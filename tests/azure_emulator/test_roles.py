"""Role assignments through AuthorizationManagementClient: idempotent create, RoleAssignmentExists,
PrincipalNotFound while a new identity replicates, UnmatchedPrincipalType, list-for-scope, delete."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from azure.mgmt.msi.models import Identity

from localcloud.azure import AzureEmulator
from tests.azure_emulator.helpers import RG, cluster_scope, snapshot
from tests.waiting import wait_for_async

CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"


def _ids(emulator: AzureEmulator) -> tuple[str, str]:
    sub = emulator.config.subscription_id
    scope = cluster_scope(emulator)
    return scope, f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}"


def _without_principal_type(role: str, principal: str) -> RoleAssignmentCreateParameters:
    """What raw-JSON clients send; the SDK model defaults principalType to "User", None leaves it out."""
    params = RoleAssignmentCreateParameters(role_definition_id=role, principal_id=principal)
    setattr(params, "principal_type", None)  # noqa: B010 - the model's type forbids None; the wire allows it
    return params


async def _principal(msi: ManagedServiceIdentityClient, name: str = "kaito-worker") -> str:
    identity = await msi.user_assigned_identities.create_or_update(RG, name, Identity(location="eastus"))
    assert identity.principal_id is not None
    return str(identity.principal_id)


async def _assignment_of_a_new_principal(
    emulator: AzureEmulator, msi: ManagedServiceIdentityClient
) -> tuple[str, str, str]:
    """(scope, role definition id, principal id) of a Contributor assignment for a new identity."""
    scope, role = _ids(emulator)
    return scope, role, await _principal(msi)


async def test_create_is_idempotent_and_duplicates_conflict(
    emulator: AzureEmulator, msi: ManagedServiceIdentityClient, authz: AuthorizationManagementClient
) -> None:
    scope, role, principal = await _assignment_of_a_new_principal(emulator, msi)
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{role}|{principal}"))
    params = RoleAssignmentCreateParameters(
        role_definition_id=role, principal_id=principal, principal_type="ServicePrincipal"
    )
    statuses: list[int] = []
    made = await authz.role_assignments.create(
        scope, name, params, raw_response_hook=lambda r: statuses.append(r.http_response.status_code)
    )
    await authz.role_assignments.create(
        scope, name, params, raw_response_hook=lambda r: statuses.append(r.http_response.status_code)
    )
    assert statuses == [201, 200]
    assert made.scope == scope and made.principal_type == "ServicePrincipal"
    before = snapshot(emulator)
    with pytest.raises(ResourceExistsError) as err:
        await authz.role_assignments.create(scope, str(uuid.uuid4()), params)
    assert err.value.status_code == 409 and err.value.error is not None
    assert err.value.error.code == "RoleAssignmentExists"
    assert snapshot(emulator) == before

    got = await authz.role_assignments.get(scope, name)
    assert got.principal_id == principal
    at_scope = [ra.name async for ra in authz.role_assignments.list_for_scope(scope, filter="atScope()")]
    assert name in at_scope and len(at_scope) == 2  # this one + the operator's Owner above it
    mine = [
        ra.name
        async for ra in authz.role_assignments.list_for_scope(scope, filter=f"principalId eq '{principal}'")
    ]
    assert mine == [name]
    await authz.role_assignments.delete(scope, name)
    with pytest.raises(ResourceNotFoundError):
        await authz.role_assignments.get(scope, name)


async def test_principal_not_found_while_replicating(
    emulator: AzureEmulator, msi: ManagedServiceIdentityClient, authz: AuthorizationManagementClient
) -> None:
    emulator.config.principal_replication_seconds = 1.0
    scope, role, principal = await _assignment_of_a_new_principal(emulator, msi)
    without_type = _without_principal_type(role, principal)
    before = snapshot(emulator)
    with pytest.raises(HttpResponseError) as err:
        await authz.role_assignments.create(scope, str(uuid.uuid4()), without_type)
    assert (err.value.status_code, err.value.error and err.value.error.code) == (400, "PrincipalNotFound")
    assert "replication delay" in str(err.value.message)
    assert snapshot(emulator) == before

    async def assigned() -> bool:
        try:
            await authz.role_assignments.create(scope, str(uuid.uuid4()), without_type)
        except HttpResponseError as exc:
            assert exc.error is not None and exc.error.code == "PrincipalNotFound"
            return False
        return True

    await wait_for_async(assigned, "the principal to replicate", timeout=5)


async def test_principal_type_rules(
    emulator: AzureEmulator, msi: ManagedServiceIdentityClient, authz: AuthorizationManagementClient
) -> None:
    emulator.config.principal_replication_seconds = 60.0
    scope, role, principal = await _assignment_of_a_new_principal(emulator, msi)
    # with principalType ARM skips the directory lookup, so a replicating principal is fine...
    ok = RoleAssignmentCreateParameters(
        role_definition_id=role, principal_id=principal, principal_type="ServicePrincipal"
    )
    await authz.role_assignments.create(scope, str(uuid.uuid4()), ok)
    # ...but the SDK's default principalType "User" does not match a managed identity
    with pytest.raises(HttpResponseError) as err:
        await authz.role_assignments.create(
            scope,
            str(uuid.uuid4()),
            RoleAssignmentCreateParameters(role_definition_id=role, principal_id=principal),
        )
    assert (err.value.status_code, err.value.error and err.value.error.code) == (
        400,
        "UnmatchedPrincipalType",
    )
    # a principal nobody created, without a type: not found
    with pytest.raises(HttpResponseError) as err:
        await authz.role_assignments.create(
            scope,
            str(uuid.uuid4()),
            _without_principal_type(role, str(uuid.uuid4())),
        )
    assert err.value.error is not None and err.value.error.code == "PrincipalNotFound"


async def test_assignment_refusals(
    emulator: AzureEmulator, msi: ManagedServiceIdentityClient, authz: AuthorizationManagementClient
) -> None:
    scope, role, principal = await _assignment_of_a_new_principal(emulator, msi)
    params = RoleAssignmentCreateParameters(
        role_definition_id=role, principal_id=principal, principal_type="ServicePrincipal"
    )
    before = snapshot(emulator)

    async def code_of(name: str, p: RoleAssignmentCreateParameters) -> tuple[int, str]:
        with pytest.raises(HttpResponseError) as err:
            await authz.role_assignments.create(scope, name, p)
        return err.value.status_code or 0, str(err.value.error and err.value.error.code)

    assert await code_of("not-a-guid", params) == (400, "InvalidRoleAssignmentId")
    bogus_role = RoleAssignmentCreateParameters(
        role_definition_id=role.replace(CONTRIBUTOR, str(uuid.uuid4())),
        principal_id=principal,
        principal_type="ServicePrincipal",
    )
    assert await code_of(str(uuid.uuid4()), bogus_role) == (400, "RoleDefinitionDoesNotExist")
    assert snapshot(emulator) == before
    name = str(uuid.uuid4())
    await authz.role_assignments.create(scope, name, params)
    other = await _principal(msi, "someone-else")
    changed = RoleAssignmentCreateParameters(
        role_definition_id=role, principal_id=other, principal_type="ServicePrincipal"
    )
    assert await code_of(name, changed) == (400, "RoleAssignmentUpdateNotPermitted")


async def test_role_definitions(emulator: AzureEmulator, authz: AuthorizationManagementClient) -> None:
    scope, _ = _ids(emulator)
    found = [d async for d in authz.role_definitions.list(scope, filter="roleName eq 'Contributor'")]
    assert [d.name for d in found] == [CONTRIBUTOR]
    got = await authz.role_definitions.get(scope, CONTRIBUTOR)
    assert got.role_name == "Contributor"
