"""Fixtures: a test OIDC issuer, an emulator with second-scale operations, and the real SDK clients
(async) authenticated with the operator's client secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient

from localcloud.azure import AzureEmulator, EmulatorConfig, OperationDurations
from tests.azure_emulator.oidc_issuer import TestIssuer


@pytest.fixture
async def issuer(tmp_path: Path) -> AsyncIterator[TestIssuer]:
    iss = TestIssuer(tmp_path)
    await iss.start()
    yield iss
    await iss.stop()


@pytest.fixture
def emulator_config(tmp_path: Path, issuer: TestIssuer) -> EmulatorConfig:
    return EmulatorConfig(
        state_file=tmp_path / "azure-state.json",
        oidc_issuer_url=issuer.url,
        issuer_ca_files=[issuer.ca_file],
        durations=OperationDurations.uniform(0.2),
        send_retry_after=False,  # test speed: poll every 20 ms; test_lro_protocol covers Retry-After
        poll_hint_ms=20,
    )


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig) -> AsyncIterator[AzureEmulator]:
    emu = AzureEmulator(emulator_config)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def operator_credential(emulator: AzureEmulator) -> AsyncIterator[ClientSecretCredential]:
    cfg = emulator.config
    async with ClientSecretCredential(
        cfg.tenant_id, cfg.operator_client_id, cfg.operator_client_secret, **emulator.credential_kwargs()
    ) as cred:
        yield cred


@pytest.fixture
async def aks(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential
) -> AsyncIterator[ContainerServiceClient]:
    async with ContainerServiceClient(
        operator_credential, emulator.config.subscription_id, **emulator.client_kwargs()
    ) as client:
        yield client


@pytest.fixture
async def msi(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential
) -> AsyncIterator[ManagedServiceIdentityClient]:
    async with ManagedServiceIdentityClient(
        operator_credential, emulator.config.subscription_id, **emulator.client_kwargs()
    ) as client:
        yield client


@pytest.fixture
async def authz(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential
) -> AsyncIterator[AuthorizationManagementClient]:
    async with AuthorizationManagementClient(
        operator_credential, emulator.config.subscription_id, **emulator.client_kwargs()
    ) as client:
        yield client
