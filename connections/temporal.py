"""The one way every process builds a Temporal client: workers, controllers, the CLI, the local cloud.

Settings come from `KAITO_TEMPORAL_*`, in one of three modes, told apart by which fields are set:

- local: `ADDRESS` (and `NAMESPACE`) only — a dev server, plain gRPC;
- mTLS: `TLS_CLIENT_CERT` + `TLS_CLIENT_KEY`, with `TLS_SERVER_CA` for a private CA and
  `TLS_SERVER_NAME` when the certificate names another host than `ADDRESS` — a self-hosted cluster;
- Temporal Cloud: `API_KEY` + `NAMESPACE` + `ADDRESS` — TLS against the system's roots.

A half-set mode (a certificate without its key, an API key without its namespace, …) is refused when the
settings load, with one line naming the variables, before anything connects. Every client carries the
pydantic data converter, so payloads are typed models.
"""

import sys
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

PREFIX = "KAITO_TEMPORAL_"


class TemporalMode(StrEnum):
    LOCAL = "local"
    TLS = "tls"  # server-authenticated TLS only (a private CA, or system roots)
    MTLS = "mtls"
    CLOUD = "cloud"


class TemporalSettingsError(ValueError):
    """A Temporal configuration that cannot connect as set; its message is one line."""


def _var(field: str) -> str:
    return f"{PREFIX}{field.upper()}"


class TemporalSettings(BaseSettings):
    """How to reach Temporal: a dev server, a self-hosted cluster with (m)TLS, or Cloud with an API key."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    api_key: SecretStr | None = None
    tls: bool | None = None  # None: TLS exactly when a TLS file, a server name or an API key is set
    tls_server_ca: Path | None = None
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = None
    tls_server_name: str | None = None

    @model_validator(mode="after")
    def _one_complete_mode(self) -> Self:
        problem = self._problem()
        if problem:
            raise ValueError(problem)
        return self

    def _problem(self) -> str | None:
        """The first reason these settings cannot connect, as one line; None when they can."""
        cert, key = self.tls_client_cert, self.tls_client_key
        if (cert is None) != (key is None):
            pair = ("tls_client_cert", "tls_client_key")
            given, missing = pair if key is None else pair[::-1]
            return f"{_var(given)} is set but {_var(missing)} is not: mTLS needs the certificate and its key"
        if self.api_key is not None:
            if cert is not None:
                both = f"{_var('api_key')} and {_var('tls_client_cert')}"
                return f"{both} are both set: authenticate to Temporal Cloud with one of them"
            needs = {
                "namespace": "the namespace the key belongs to (<namespace>.<account>)",
                "address": "the namespace's endpoint (host:port)",
            }
            for field, what in needs.items():
                if field not in self.model_fields_set:
                    return f"{_var('api_key')} is set but {_var(field)} is not: Temporal Cloud needs {what}"
        if self.tls is False and self.mode is not TemporalMode.LOCAL:
            return f"{_var('tls')}=false contradicts {self._tls_reason()}, which needs TLS"
        for field in ("tls_server_ca", "tls_client_cert", "tls_client_key"):
            path: Path | None = getattr(self, field)
            if path is not None and not path.is_file():
                return f"{_var(field)}={path} is not a readable file"
        return None

    def _tls_reason(self) -> str:
        for field in ("api_key", "tls_client_cert", "tls_server_ca", "tls_server_name"):
            if getattr(self, field) is not None:
                return _var(field)
        return _var("tls")

    @property
    def mode(self) -> TemporalMode:
        if self.api_key is not None:
            return TemporalMode.CLOUD
        if self.tls_client_cert is not None:
            return TemporalMode.MTLS
        if self.tls or self.tls_server_ca is not None or self.tls_server_name is not None:
            return TemporalMode.TLS
        return TemporalMode.LOCAL

    def client_env(self) -> dict[str, str]:
        """These settings as `KAITO_TEMPORAL_*` variables, for a child process (the API key included)."""
        env = {_var("address"): self.address, _var("namespace"): self.namespace}
        if self.api_key is not None:
            env[_var("api_key")] = self.api_key.get_secret_value()
        if self.tls is not None:
            env[_var("tls")] = str(self.tls).lower()
        for field in ("tls_server_ca", "tls_client_cert", "tls_client_key", "tls_server_name"):
            value = getattr(self, field)
            if value is not None:
                env[_var(field)] = str(value)
        return env


def load_settings() -> TemporalSettings:
    """The settings from the environment; a half-set mode raises TemporalSettingsError (one line)."""
    try:
        return TemporalSettings()
    except ValidationError as error:
        raise TemporalSettingsError(settings_problem(error)) from None


def settings_or_exit() -> TemporalSettings:
    """The settings from the environment for a process's start: a half-set mode is one line on stderr
    and exit code 2 (a usage error), before anything connects."""
    try:
        return load_settings()
    except TemporalSettingsError as half_set:
        print(f"error: {half_set}", file=sys.stderr)
        raise SystemExit(2) from None


def settings_problem(error: ValidationError) -> str:
    """The one line a TemporalSettings ValidationError says (a malformed value or a half-set mode)."""
    item = error.errors()[0]
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["loc"]:
        return f"{_var(str(item['loc'][0]))}={item['input']!r} is invalid: {message}"
    return message


def tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    """mTLS or a private CA when files are given; system roots for `tls` or an API key alone."""
    mode = settings.mode
    if mode is TemporalMode.LOCAL:
        return False
    files = (settings.tls_server_ca, settings.tls_client_cert, settings.tls_client_key)
    if any(files) or settings.tls_server_name:
        return TLSConfig(
            server_root_ca_cert=settings.tls_server_ca.read_bytes() if settings.tls_server_ca else None,
            client_cert=settings.tls_client_cert.read_bytes() if settings.tls_client_cert else None,
            client_private_key=settings.tls_client_key.read_bytes() if settings.tls_client_key else None,
            domain=settings.tls_server_name,
        )
    return True


async def connect(settings: TemporalSettings | None = None) -> Client:
    """A client with the pydantic converter: every payload is a typed model, datetimes stay aware."""
    settings = settings or load_settings()
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        tls=tls_config(settings),
        data_converter=pydantic_data_converter,
    )
