"""The production-shape Temporal cluster's certificates: one private CA (trustme), a frontend certificate,
and client certificates for our processes and for the server's own system worker.

The frontend requires a client certificate signed by this CA (mTLS), so a client without one is refused.
The server's internal clients present certificates too, which is why the system worker has its own.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Self

import trustme

SERVER_NAME = "localhost"  # the name clients verify; the certificate also carries 127.0.0.1


@dataclass(frozen=True)
class ClusterCertificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path  # our workers, controllers, the CLI and the local cloud itself
    client_key: Path
    system_worker_cert: Path  # the server's system worker, connecting to its own frontend
    system_worker_key: Path

    @classmethod
    def create(cls, directory: Path) -> Self:
        """A fresh CA and its certificates, written as PEM files (keys readable by their owner only)."""
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="kaito-temporal local cluster")
        paths = cls(
            ca=directory / "ca.pem",
            server_cert=directory / "frontend.pem",
            server_key=directory / "frontend-key.pem",
            client_cert=directory / "client.pem",
            client_key=directory / "client-key.pem",
            system_worker_cert=directory / "system-worker.pem",
            system_worker_key=directory / "system-worker-key.pem",
        )
        ca.cert_pem.write_to_path(str(paths.ca))
        issued = [
            (ca.issue_cert(SERVER_NAME, "127.0.0.1"), paths.server_cert, paths.server_key),
            (
                ca.issue_cert("kaito-client.local", common_name="kaito-client"),
                paths.client_cert,
                paths.client_key,
            ),
            (
                ca.issue_cert("temporal-system-worker.local", common_name="temporal-system-worker"),
                paths.system_worker_cert,
                paths.system_worker_key,
            ),
        ]
        for cert, cert_path, key_path in issued:
            cert.cert_chain_pems[0].write_to_path(str(cert_path))
            key_path.touch(mode=0o600)
            cert.private_key_pem.write_to_path(str(key_path))
        return paths
