"""How the real Azure SDKs are pointed at the emulator: one place for the emulator in-process and as a
child process alike."""

from pathlib import Path
from typing import Any

ARM_SCOPE = "https://management.azure.com/.default"


def client_kwargs(base_url: str, ca_file: Path) -> dict[str, Any]:
    """Keyword arguments for the mgmt clients (containerservice, msi, authorization)."""
    return {"base_url": base_url, "connection_verify": str(ca_file), "credential_scopes": [ARM_SCOPE]}


def credential_kwargs(base_url: str, ca_file: Path) -> dict[str, Any]:
    """Keyword arguments for azure-identity credentials (secret, assertion, workload identity)."""
    return {"authority": base_url, "connection_verify": str(ca_file), "disable_instance_discovery": True}
