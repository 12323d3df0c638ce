"""TLS for the emulator: a trustme CA kept on disk, so clients that trust `ca.pem` keep trusting it after a
restart, and a fresh server certificate for 127.0.0.1/localhost (+ extra names) on every start.

The Azure SDKs refuse bearer tokens over plain HTTP and azure-identity refuses an http:// authority, so
HTTPS is not optional.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"


@dataclass
class TlsMaterial:
    ca_file: Path
    server_context: ssl.SSLContext

    @classmethod
    def load_or_create(cls, cert_dir: Path, hostnames: list[str]) -> TlsMaterial:
        cert_dir.mkdir(parents=True, exist_ok=True)
        ca_path, key_path = cert_dir / CA_CERT, cert_dir / CA_KEY
        if ca_path.exists() and key_path.exists():
            ca = trustme.CA.from_pem(ca_path.read_bytes(), key_path.read_bytes())
        else:
            ca = trustme.CA(organization_name="kaito-temporal local Azure")
            key_path.write_bytes(ca.private_key_pem.bytes())
            key_path.chmod(0o600)
            ca.cert_pem.write_to_path(str(ca_path))
        names = list(dict.fromkeys(["127.0.0.1", "localhost", "::1", *hostnames]))
        server_cert = ca.issue_cert(*names)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_cert.configure_cert(ctx)
        return cls(ca_file=ca_path, server_context=ctx)


def client_context(ca_files: list[Path]) -> ssl.SSLContext:
    """Verify servers against the system trust store plus `ca_files` (e.g. the kube-apiserver CA)."""
    ctx = ssl.create_default_context()
    for path in ca_files:
        ctx.load_verify_locations(cafile=str(path))
    return ctx
