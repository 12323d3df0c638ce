"""The Entra token endpoint with the real azure-identity credentials: the operator's client secret (async
and the MSAL-based sync credential) and the workload-identity exchange, verified against a test OIDC
issuer served over HTTPS with its own CA; plus ARM's 401/403 for what the tokens may do."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import ClientSecretCredential as SyncClientSecretCredential
from azure.identity.aio import ClientAssertionCredential, ClientSecretCredential, WorkloadIdentityCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from azure.mgmt.msi.models import FederatedIdentityCredential, Identity
from cryptography.hazmat.primitives.asymmetric import rsa

from localcloud.azure import ARM_SCOPE, AzureEmulator
from localcloud.azure.oidc import IssuerKeys
from tests.azure_emulator.helpers import CLUSTER, RG, agent_pool, cluster_scope, control
from tests.azure_emulator.oidc_issuer import AUDIENCE, TestIssuer

SUBJECT = "system:serviceaccount:kaito-system:kaito-worker"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"


@pytest.fixture
async def worker_client_id(
    emulator: AzureEmulator,
    issuer: TestIssuer,
    msi: ManagedServiceIdentityClient,
    authz: AuthorizationManagementClient,
) -> AsyncIterator[str]:
    """The bootstrap's result: an identity federated with the issuer, Contributor on the cluster."""
    identity = await msi.user_assigned_identities.create_or_update(
        RG, "kaito-worker", Identity(location="eastus")
    )
    await msi.federated_identity_credentials.create_or_update(
        RG,
        "kaito-worker",
        "kaito-worker-fic",
        FederatedIdentityCredential(issuer=issuer.url, subject=SUBJECT, audiences=[AUDIENCE]),
    )
    sub = emulator.config.subscription_id
    scope = cluster_scope(emulator)
    await authz.role_assignments.create(
        scope,
        str(uuid.uuid4()),
        RoleAssignmentCreateParameters(
            role_definition_id=f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}",
            principal_id=str(identity.principal_id),
            principal_type="ServicePrincipal",
        ),
    )
    assert identity.client_id is not None
    yield identity.client_id


def _assertion_credential(emulator: AzureEmulator, client_id: str, token: str) -> ClientAssertionCredential:
    return ClientAssertionCredential(
        emulator.config.tenant_id, client_id, lambda: token, **emulator.credential_kwargs()
    )


async def _token_error(emulator: AzureEmulator, client_id: str, token: str) -> str:
    async with _assertion_credential(emulator, client_id, token) as cred:
        with pytest.raises(ClientAuthenticationError) as err:
            await cred.get_token(ARM_SCOPE)
    return str(err.value)


async def test_workload_identity_exchange_then_arm_calls(
    emulator: AzureEmulator, issuer: TestIssuer, worker_client_id: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(issuer.mint(SUBJECT))
    async with (
        WorkloadIdentityCredential(
            tenant_id=emulator.config.tenant_id,
            client_id=worker_client_id,
            token_file_path=str(token_file),
            **emulator.credential_kwargs(),
        ) as cred,
        ContainerServiceClient(cred, emulator.config.subscription_id, **emulator.client_kwargs()) as aks,
    ):
        pool = await (
            await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", agent_pool(1))
        ).result()
        assert pool.provisioning_state == "Succeeded"
        # the identity is Contributor on the cluster only: the resource group is out of reach
        async with ManagedServiceIdentityClient(
            cred, emulator.config.subscription_id, **emulator.client_kwargs()
        ) as msi:
            with pytest.raises(HttpResponseError) as err:
                await msi.user_assigned_identities.create_or_update(
                    RG, "escalate", Identity(location="eastus")
                )
        assert (err.value.status_code, err.value.error and err.value.error.code) == (
            403,
            "AuthorizationFailed",
        )
        # and Contributor may not write role assignments
        async with AuthorizationManagementClient(
            cred, emulator.config.subscription_id, **emulator.client_kwargs()
        ) as authz:
            cluster_scope = pool.id.rsplit("/agentPools/", 1)[0] if pool.id else ""
            with pytest.raises(HttpResponseError) as err:
                await authz.role_assignments.create(
                    cluster_scope,
                    str(uuid.uuid4()),
                    RoleAssignmentCreateParameters(
                        role_definition_id=CONTRIBUTOR, principal_id=str(uuid.uuid4()), principal_type="User"
                    ),
                )
            assert err.value.status_code == 403
    worker = {e.principal for e in emulator.requests(op="agentPools.put")}
    identity = next(iter(emulator.cloud.state.identities.values()))
    assert worker == {identity["properties"]["principalId"]}
    assert issuer.requests == ["/issuer/.well-known/openid-configuration", "/issuer/openid/v1/jwks"]


async def test_rejected_assertions(
    emulator: AzureEmulator, issuer: TestIssuer, worker_client_id: str
) -> None:
    wrong_subject = await _token_error(emulator, worker_client_id, issuer.mint("system:serviceaccount:x:y"))
    assert "AADSTS70021" in wrong_subject and "system:serviceaccount:x:y" in wrong_subject
    assert "AADSTS70021" in await _token_error(
        emulator, worker_client_id, issuer.mint(SUBJECT, audience="other")
    )
    assert "AADSTS70021" in await _token_error(
        emulator, worker_client_id, issuer.mint(SUBJECT, issuer=issuer.url.rstrip("/"))
    )  # the slash matters
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert "AADSTS700027" in await _token_error(
        emulator, worker_client_id, issuer.mint(SUBJECT, key=forged_key)
    )
    assert "AADSTS700027" in await _token_error(
        emulator, worker_client_id, issuer.mint(SUBJECT, key=forged_key, kid="unknown-kid")
    )
    expired = issuer.mint(SUBJECT, issued_at=time.time() - 7200, lifetime=600)
    assert "AADSTS700024" in await _token_error(emulator, worker_client_id, expired)
    assert "AADSTS700016" in await _token_error(emulator, str(uuid.uuid4()), issuer.mint(SUBJECT))
    assert "AADSTS50027" in await _token_error(emulator, worker_client_id, "not-a-jwt")


async def test_key_rotation_refetches_jwks(
    emulator: AzureEmulator, issuer: TestIssuer, worker_client_id: str
) -> None:
    async with _assertion_credential(emulator, worker_client_id, issuer.mint(SUBJECT)) as cred:
        await cred.get_token(ARM_SCOPE)
    issuer.rotate()
    async with _assertion_credential(emulator, worker_client_id, issuer.mint(SUBJECT)) as cred:
        assert (await cred.get_token(ARM_SCOPE)).token
    assert emulator.cloud.issuers.fetches == 2


async def test_issuer_unreachable_or_untrusted(
    emulator: AzureEmulator, issuer: TestIssuer, worker_client_id: str, msi: ManagedServiceIdentityClient
) -> None:
    emulator.cloud.issuers = IssuerKeys([])  # the issuer's CA is not trusted
    try:
        assert "AADSTS50166" in await _token_error(emulator, worker_client_id, issuer.mint(SUBJECT))
    finally:
        await emulator.cloud.issuers.close()
        emulator.cloud.issuers = IssuerKeys([issuer.ca_file])
    dead = "https://127.0.0.1:9/dead/"
    await msi.federated_identity_credentials.create_or_update(
        RG,
        "kaito-worker",
        "dead-fic",
        FederatedIdentityCredential(issuer=dead, subject=SUBJECT, audiences=[AUDIENCE]),
    )
    assert "AADSTS50166" in await _token_error(emulator, worker_client_id, issuer.mint(SUBJECT, issuer=dead))


async def test_operator_secret_async_and_sync_msal(emulator: AzureEmulator) -> None:
    cfg = emulator.config
    async with ClientSecretCredential(
        cfg.tenant_id, cfg.operator_client_id, "wrong", **emulator.credential_kwargs()
    ) as bad:
        with pytest.raises(ClientAuthenticationError) as err:
            await bad.get_token(ARM_SCOPE)
    assert "AADSTS7000215" in str(err.value)
    async with ClientSecretCredential(
        str(uuid.uuid4()), cfg.operator_client_id, cfg.operator_client_secret, **emulator.credential_kwargs()
    ) as other_tenant:
        with pytest.raises(ClientAuthenticationError) as err:
            await other_tenant.get_token(ARM_SCOPE)
    assert "AADSTS90002" in str(err.value)

    sync = SyncClientSecretCredential(
        cfg.tenant_id, cfg.operator_client_id, cfg.operator_client_secret, **emulator.credential_kwargs()
    )
    token = await asyncio.to_thread(
        sync.get_token, ARM_SCOPE
    )  # MSAL is blocking; the emulator shares our loop
    assert token.token and token.expires_on > time.time() + 3000
    assert emulator.requests(op="openidConfiguration.get"), "MSAL read the tenant's discovery document"


class _StaticCredential:
    """An async credential handing out a fixed token (to send ARM something it did not issue)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> _StaticCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_arm_needs_a_token_it_issued(emulator: AzureEmulator, issuer: TestIssuer) -> None:
    async with ContainerServiceClient(
        _StaticCredential(issuer.mint(SUBJECT)), emulator.config.subscription_id, **emulator.client_kwargs()
    ) as aks:
        with pytest.raises(ClientAuthenticationError) as err:
            await aks.managed_clusters.get(RG, CLUSTER)
    assert err.value.status_code == 401
    assert err.value.error is not None and err.value.error.code == "InvalidAuthenticationToken"
    # no Authorization header at all (the SDK always sends one, so this is raw HTTP)
    import ssl

    import aiohttp

    ctx = ssl.create_default_context(cafile=str(emulator.ca_file))
    url = (
        f"{emulator.base_url}/subscriptions/{emulator.config.subscription_id}/resourceGroups/{RG}/providers/"
        f"Microsoft.ContainerService/managedClusters/{CLUSTER}?api-version=2026-08-01"
    )
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session,
        session.get(url) as resp,
    ):
        body = await resp.json()
        assert resp.status == 401 and body["error"]["code"] == "AuthenticationFailed"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    status, health = await control(emulator.base_url, str(emulator.ca_file), "GET", "/_emulator/health")
    assert status == 200 and health["tenantId"] == emulator.config.tenant_id
