"""The Azure emulator fixtures shared by tests/azure_emulator and tests/azure_activities: a test OIDC issuer,
the in-process emulator with second-scale operations, the operator's client-secret credential, and the
real async SDK clients over HTTPS. A conftest imports the fixtures it uses from here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient

from localcloud.azure import AzureEmulator, EmulatorConfig, OperationDurations
from tests.azure_emulator.oidc_issuer import TestIssuer

__all__ = [
    "aks",
    "authz",
    "emulator",
    "emulator_config",
    "issuer",
    "make_arm",
    "msi",
    "operator_credential",
]

ArmClient = TypeVar(
    "ArmClient", ContainerServiceClient, ManagedServiceIdentityClient, AuthorizationManagementClient
)


class ArmFactory(Protocol):
    """`make_arm(ContainerServiceClient, retry_total=0, …)`: a client, with extra pipeline settings."""

    def __call__(self, kind: type[ArmClient], **overrides: Any) -> ArmClient: ...


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
        # Like AKS, no Retry-After: the client's polling decides, and the emulator's retry-after-ms hint
        # keeps polls at 20 ms (test_agentpools.py::test_retry_after_protocol_is_honoured covers Retry-After).
        send_retry_after=False,
        poll_hint_ms=20,
    )


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig) -> AsyncIterator[AzureEmulator]:
    async with AzureEmulator(emulator_config) as emu:
        yield emu


@pytest.fixture
async def operator_credential(emulator: AzureEmulator) -> AsyncIterator[ClientSecretCredential]:
    async with emulator.operator_credential() as cred:
        yield cred


@pytest.fixture
async def make_arm(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential
) -> AsyncIterator[ArmFactory]:
    """A factory of ARM clients as the operator, on the emulator; every one is closed after the test."""
    made: list[Any] = []

    def make(kind: type[ArmClient], **overrides: Any) -> ArmClient:
        client = kind(
            operator_credential, emulator.config.subscription_id, **{**emulator.client_kwargs(), **overrides}
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
def aks(make_arm: ArmFactory) -> ContainerServiceClient:
    return make_arm(ContainerServiceClient)


@pytest.fixture
def msi(make_arm: ArmFactory) -> ManagedServiceIdentityClient:
    return make_arm(ManagedServiceIdentityClient)


@pytest.fixture
def authz(make_arm: ArmFactory) -> AuthorizationManagementClient:
    return make_arm(AuthorizationManagementClient)
