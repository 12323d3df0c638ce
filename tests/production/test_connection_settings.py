"""The three ways to reach Temporal (local, mTLS, Temporal Cloud) from `KAITO_TEMPORAL_*`, and the one-line
refusal of a half-set one: by the settings, by `connect()`, and by a worker process at startup."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from connections.temporal import (
    TemporalMode,
    TemporalSettings,
    TemporalSettingsError,
    connect,
    load_settings,
    tls_config,
)
from tests.conftest import ROOT


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, Path]:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for name, path in files.items():
        path.write_text(f"-----BEGIN {name.upper()}-----\n")
    return files


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("KAITO_TEMPORAL_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_nothing_set_is_a_local_dev_server_over_plain_grpc(environ: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.mode is TemporalMode.LOCAL
    assert (settings.address, settings.namespace) == ("127.0.0.1:7233", "default")
    assert tls_config(settings) is False


def test_mtls_from_the_environment_carries_cert_key_ca_and_server_name(
    environ: pytest.MonkeyPatch, pem: dict[str, Path]
) -> None:
    environ.setenv("KAITO_TEMPORAL_ADDRESS", "temporal.example:7233")
    environ.setenv("KAITO_TEMPORAL_TLS_CLIENT_CERT", str(pem["cert"]))
    environ.setenv("KAITO_TEMPORAL_TLS_CLIENT_KEY", str(pem["key"]))
    environ.setenv("KAITO_TEMPORAL_TLS_SERVER_CA", str(pem["ca"]))
    environ.setenv("KAITO_TEMPORAL_TLS_SERVER_NAME", "frontend.temporal")
    settings = load_settings()
    assert settings.mode is TemporalMode.MTLS
    tls = tls_config(settings)
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == pem["cert"].read_bytes()
    assert tls.client_private_key == pem["key"].read_bytes()
    assert tls.server_root_ca_cert == pem["ca"].read_bytes()
    assert tls.domain == "frontend.temporal"
    # What a child process gets: the same settings, variable for variable.
    for key, value in settings.client_env().items():
        environ.setenv(key, value)
    assert load_settings() == settings


def test_temporal_cloud_is_api_key_and_namespace_over_tls_with_system_roots(
    environ: pytest.MonkeyPatch,
) -> None:
    environ.setenv("KAITO_TEMPORAL_API_KEY", "secret-key")
    environ.setenv("KAITO_TEMPORAL_NAMESPACE", "kaito.a1b2c")
    environ.setenv("KAITO_TEMPORAL_ADDRESS", "eastus.azure.api.temporal.io:7233")
    settings = load_settings()
    assert settings.mode is TemporalMode.CLOUD
    assert tls_config(settings) is True
    assert "secret-key" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TLS_CLIENT_CERT": "{cert}"},
            "KAITO_TEMPORAL_TLS_CLIENT_CERT is set but KAITO_TEMPORAL_TLS_CLIENT_KEY is not: "
            "mTLS needs the certificate and its key",
        ),
        (
            {"TLS_CLIENT_KEY": "{key}"},
            "KAITO_TEMPORAL_TLS_CLIENT_KEY is set but KAITO_TEMPORAL_TLS_CLIENT_CERT is not: "
            "mTLS needs the certificate and its key",
        ),
        (
            {"API_KEY": "k", "ADDRESS": "eastus.azure.api.temporal.io:7233"},
            "KAITO_TEMPORAL_API_KEY is set but KAITO_TEMPORAL_NAMESPACE is not: "
            "Temporal Cloud needs the namespace the key belongs to (<namespace>.<account>)",
        ),
        (
            {"API_KEY": "k", "NAMESPACE": "kaito.a1b2c"},
            "KAITO_TEMPORAL_API_KEY is set but KAITO_TEMPORAL_ADDRESS is not: "
            "Temporal Cloud needs the namespace's endpoint (host:port)",
        ),
        (
            {"API_KEY": "k", "NAMESPACE": "n.a", "ADDRESS": "a:7233", "TLS_CLIENT_CERT": "{cert}",
             "TLS_CLIENT_KEY": "{key}"},
            "KAITO_TEMPORAL_API_KEY and KAITO_TEMPORAL_TLS_CLIENT_CERT are both set: "
            "authenticate to Temporal Cloud with one of them",
        ),
        (
            {"TLS": "false", "TLS_SERVER_CA": "{ca}"},
            "KAITO_TEMPORAL_TLS=false contradicts KAITO_TEMPORAL_TLS_SERVER_CA, which needs TLS",
        ),
        (
            {"TLS_CLIENT_CERT": "/nowhere/cert.pem", "TLS_CLIENT_KEY": "{key}"},
            "KAITO_TEMPORAL_TLS_CLIENT_CERT=/nowhere/cert.pem is not a readable file",
        ),
    ],
)  # fmt: skip
async def test_a_half_set_mode_is_refused_in_one_line_before_connecting(
    environ: pytest.MonkeyPatch, pem: dict[str, Path], env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        environ.setenv(f"KAITO_TEMPORAL_{key}", value.format(**{k: str(v) for k, v in pem.items()}))
    with pytest.raises(TemporalSettingsError) as refused:
        load_settings()
    assert str(refused.value) == message
    with pytest.raises(TemporalSettingsError) as refused_again:
        await connect()  # nothing is dialled: the same line, before any connection
    assert str(refused_again.value) == message


def test_a_malformed_value_names_its_variable(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("KAITO_TEMPORAL_TLS", "maybe")
    with pytest.raises(TemporalSettingsError, match=r"^KAITO_TEMPORAL_TLS='maybe' is invalid: "):
        load_settings()


@pytest.mark.parametrize("module", ["worker", "controllers"])
def test_a_process_with_a_half_set_mode_stops_with_that_line_and_exit_code_2(
    pem: dict[str, Path], module: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAITO_")}
    env = {
        **clean,
        "KAITO_SUBSCRIPTION_ID": "6b1f0b5e-0000-4000-8000-000000000001",
        "KAITO_RESOURCE_GROUP": "rg-gpu",
        "KAITO_CLUSTER_NAME": "aks-gpu",
        "KAITO_TEMPORAL_TLS_CLIENT_CERT": str(pem["cert"]),
    }
    done = subprocess.run(
        [sys.executable, "-m", module], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: KAITO_TEMPORAL_TLS_CLIENT_CERT is set but KAITO_TEMPORAL_TLS_CLIENT_KEY is not: "
        "mTLS needs the certificate and its key"
    ]


def test_settings_built_in_code_are_checked_the_same_way(pem: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="KAITO_TEMPORAL_TLS_CLIENT_KEY is not"):
        TemporalSettings(tls_client_cert=pem["cert"])


def test_kaitoctl_with_a_half_set_mode_says_that_line_and_exits_2(
    pem: dict[str, Path], tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAITO_")}
    env = {**clean, "KAITO_STATE_DIR": str(tmp_path), "KAITO_TEMPORAL_API_KEY": "k",
           "KAITO_TEMPORAL_ADDRESS": "eastus.azure.api.temporal.io:7233"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "kaitoctl", "workspace", "list"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: KAITO_TEMPORAL_API_KEY is set but KAITO_TEMPORAL_NAMESPACE is not: "
        "Temporal Cloud needs the namespace the key belongs to (<namespace>.<account>)"
    )
