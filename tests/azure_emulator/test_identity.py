"""User-assigned identities and federated identity credentials through ManagedServiceIdentityClient."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from azure.mgmt.msi.models import FederatedIdentityCredential, Identity

from localcloud.azure import AzureEmulator
from tests.azure_emulator.helpers import RG, snapshot

SUBJECT = "system:serviceaccount:kaito-system:kaito-worker"
AUDIENCE = "api://AzureADTokenExchange"


async def test_identity_ids_are_stable(emulator: AzureEmulator, msi: ManagedServiceIdentityClient) -> None:
    seen: list[int] = []
    created = await msi.user_assigned_identities.create_or_update(
        RG,
        "kaito-worker",
        Identity(location="eastus", tags={"a": "1"}),
        raw_response_hook=lambda r: seen.append(r.http_response.status_code),
    )
    again = await msi.user_assigned_identities.create_or_update(
        RG,
        "kaito-worker",
        Identity(location="eastus", tags={"a": "2"}),
        raw_response_hook=lambda r: seen.append(r.http_response.status_code),
    )
    assert seen == [201, 200]
    assert (created.client_id, created.principal_id) == (again.client_id, again.principal_id)
    assert created.tenant_id == emulator.config.tenant_id
    got = await msi.user_assigned_identities.get(RG, "kaito-worker")
    assert (got.client_id, got.tags) == (created.client_id, {"a": "2"})
    assert [i.name async for i in msi.user_assigned_identities.list_by_resource_group(RG)] == ["kaito-worker"]


async def test_federated_credential_crud(emulator: AzureEmulator, msi: ManagedServiceIdentityClient) -> None:
    await msi.user_assigned_identities.create_or_update(RG, "kaito-worker", Identity(location="eastus"))
    fic = FederatedIdentityCredential(
        issuer="https://issuer.example/abc/", subject=SUBJECT, audiences=[AUDIENCE]
    )
    seen: list[int] = []
    made = await msi.federated_identity_credentials.create_or_update(
        RG,
        "kaito-worker",
        "kaito-fic",
        fic,
        raw_response_hook=lambda r: seen.append(r.http_response.status_code),
    )
    await msi.federated_identity_credentials.create_or_update(
        RG,
        "kaito-worker",
        "kaito-fic",
        fic,
        raw_response_hook=lambda r: seen.append(r.http_response.status_code),
    )
    assert seen == [201, 200]
    assert (made.issuer, made.subject, made.audiences) == ("https://issuer.example/abc/", SUBJECT, [AUDIENCE])
    got = await msi.federated_identity_credentials.get(RG, "kaito-worker", "kaito-fic")
    assert got.subject == SUBJECT
    names = [f.name async for f in msi.federated_identity_credentials.list(RG, "kaito-worker")]
    assert names == ["kaito-fic"]
    await msi.federated_identity_credentials.delete(RG, "kaito-worker", "kaito-fic")
    with pytest.raises(ResourceNotFoundError):
        await msi.federated_identity_credentials.get(RG, "kaito-worker", "kaito-fic")
    await msi.federated_identity_credentials.delete(RG, "kaito-worker", "kaito-fic")  # 204, no error


@pytest.mark.parametrize(
    ("name", "fic", "code"),
    [
        pytest.param(
            "fic1",
            FederatedIdentityCredential(
                issuer="http://plain.example/", subject=SUBJECT, audiences=[AUDIENCE]
            ),
            "BadRequest",
            id="http-issuer",
        ),
        pytest.param(
            "fic1",
            FederatedIdentityCredential(
                issuer="https://i.example/", subject=SUBJECT, audiences=[AUDIENCE, "other"]
            ),
            "BadRequest",
            id="two-audiences",
        ),
        pytest.param(
            "fic1",
            FederatedIdentityCredential(issuer="https://i.example/", audiences=[AUDIENCE]),
            "BadRequest",
            id="missing-subject",
        ),
        pytest.param(
            "x",
            FederatedIdentityCredential(issuer="https://i.example/", subject=SUBJECT, audiences=[AUDIENCE]),
            "InvalidResourceName",
            id="name-too-short",
        ),
    ],
)
async def test_federated_credential_refused(
    emulator: AzureEmulator,
    msi: ManagedServiceIdentityClient,
    name: str,
    fic: FederatedIdentityCredential,
    code: str,
) -> None:
    await msi.user_assigned_identities.create_or_update(RG, "kaito-worker", Identity(location="eastus"))
    before = snapshot(emulator)
    with pytest.raises(HttpResponseError) as err:
        await msi.federated_identity_credentials.create_or_update(RG, "kaito-worker", name, fic)
    assert (err.value.status_code, err.value.error and err.value.error.code) == (400, code)
    assert snapshot(emulator) == before


async def test_duplicate_issuer_subject_and_missing_parent(
    emulator: AzureEmulator, msi: ManagedServiceIdentityClient
) -> None:
    fic = FederatedIdentityCredential(issuer="https://i.example/", subject=SUBJECT, audiences=[AUDIENCE])
    with pytest.raises(ResourceNotFoundError):
        await msi.federated_identity_credentials.create_or_update(RG, "nobody", "fic1", fic)
    await msi.user_assigned_identities.create_or_update(RG, "kaito-worker", Identity(location="eastus"))
    await msi.federated_identity_credentials.create_or_update(RG, "kaito-worker", "fic1", fic)
    before = snapshot(emulator)
    with pytest.raises(HttpResponseError) as err:
        await msi.federated_identity_credentials.create_or_update(RG, "kaito-worker", "fic2", fic)
    assert err.value.error is not None and "Issuer and subject combination already exists" in str(
        err.value.error.message
    )
    with pytest.raises(HttpResponseError) as err:
        await msi.user_assigned_identities.create_or_update(RG, "kaito-worker", Identity(location="westus"))
    assert (err.value.status_code, err.value.error and err.value.error.code) == (
        409,
        "InvalidResourceLocation",
    )
    with pytest.raises(ResourceNotFoundError) as nf:
        await msi.user_assigned_identities.create_or_update(
            "no-such-rg", "x-identity", Identity(location="eastus")
        )
    assert nf.value.error is not None and nf.value.error.code == "ResourceGroupNotFound"
    assert snapshot(emulator) == before
