"""How the real Azure SDKs are pointed at the emulator: one place for the emulator in-process and as a
child process alike."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from localcloud.azure.config import EmulatorConfig

if TYPE_CHECKING:
    from azure.identity.aio import ClientSecretCredential

ARM_SCOPE = "https://management.azure.com/.default"


def client_kwargs(base_url: str, ca_file: Path) -> dict[str, Any]:
    """Keyword arguments for the mgmt clients (containerservice, msi, authorization)."""
    return {"base_url": base_url, "connection_verify": str(ca_file), "credential_scopes": [ARM_SCOPE]}


def credential_kwargs(base_url: str, ca_file: Path) -> dict[str, Any]:
    """Keyword arguments for azure-identity credentials (secret, assertion, workload identity)."""
    return {"authority": base_url, "connection_verify": str(ca_file), "disable_instance_discovery": True}


class EmulatorEndpoint(ABC):
    """A running emulator as its clients see it (`AzureEmulator` in process, `AzureEmulatorProcess` as a
    child): where it listens, the CA to trust, the operator's credential; `async with` starts and stops it."""

    config: EmulatorConfig

    @property
    @abstractmethod
    def base_url(self) -> str: ...

    @property
    @abstractmethod
    def ca_file(self) -> Path: ...

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> object: ...

    def client_kwargs(self) -> dict[str, Any]:
        return client_kwargs(self.base_url, self.ca_file)

    def credential_kwargs(self) -> dict[str, Any]:
        return credential_kwargs(self.base_url, self.ca_file)

    def operator_credential(self) -> ClientSecretCredential:
        """The operator's client-secret credential (Owner on the subscription), for the async SDK clients."""
        # Imported here: the emulator process itself never needs azure-identity (a quarter second to load).
        from azure.identity.aio import ClientSecretCredential

        cfg = self.config
        return ClientSecretCredential(
            cfg.tenant_id, cfg.operator_client_id, cfg.operator_client_secret, **self.credential_kwargs()
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
