"""One way to build a Temporal client for the worker, the CLI and the controllers."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from worker.settings import TemporalSettings


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
