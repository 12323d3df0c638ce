"""The one way every process builds a Temporal client: workers, controllers, the CLI, the local cloud.

Settings come from `KAITO_TEMPORAL_*`: a dev server, a self-hosted cluster with (m)TLS, or Temporal Cloud
with an API key. Every client carries the pydantic data converter, so payloads are typed models.
"""

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig


class TemporalSettings(BaseSettings):
    """How to reach Temporal: a dev server, a self-hosted cluster with (m)TLS, or Cloud with an API key."""

    model_config = SettingsConfigDict(env_prefix="KAITO_TEMPORAL_", extra="ignore")

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    api_key: SecretStr | None = None
    tls: bool = False
    tls_server_ca: Path | None = None
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = None
    tls_server_name: str | None = None


def tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    """mTLS or a private CA when files are given; system roots for `tls` or an API key alone."""
    files = (settings.tls_server_ca, settings.tls_client_cert, settings.tls_client_key)
    if any(files) or settings.tls_server_name:
        return TLSConfig(
            server_root_ca_cert=settings.tls_server_ca.read_bytes() if settings.tls_server_ca else None,
            client_cert=settings.tls_client_cert.read_bytes() if settings.tls_client_cert else None,
            client_private_key=settings.tls_client_key.read_bytes() if settings.tls_client_key else None,
            domain=settings.tls_server_name,
        )
    return settings.tls or settings.api_key is not None


async def connect(settings: TemporalSettings | None = None) -> Client:
    """A client with the pydantic converter: every payload is a typed model, datetimes stay aware."""
    settings = settings or TemporalSettings()
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        tls=tls_config(settings),
        data_converter=pydantic_data_converter,
    )
