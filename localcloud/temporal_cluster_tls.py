"""The production-shape Temporal cluster's certificates: one private CA (trustme), a frontend certificate,
and client certificates for our processes and for the server's own system worker.

The frontend requires a client certificate signed by this CA (mTLS), so a client without one is refused.
The server's internal clients present certificates too, which is why the system worker has its own.

`python -m localcloud.temporal_cluster_tls DIR --server-name temporal` writes the same set for
docker-compose (its `secrets:` read them from DIR).
"""

import argparse
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
    def create(
        cls,
        directory: Path,
        server_names: tuple[str, ...] = (SERVER_NAME, "127.0.0.1"),
        key_mode: int = 0o600,
    ) -> Self:
        """A fresh CA and its certificates, written as PEM files (keys readable by their owner only,
        unless `key_mode` says otherwise)."""
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
            (ca.issue_cert(*server_names), paths.server_cert, paths.server_key),
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
            key_path.touch(mode=key_mode)
            key_path.chmod(key_mode)
            cert.private_key_pem.write_to_path(str(key_path))
        return paths


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a CA, a frontend and client certificates (PEM).")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--server-name", action="append", default=[], help="a name in the frontend's cert")
    args = parser.parse_args()
    names = tuple(args.server_name) or (SERVER_NAME, "127.0.0.1")
    # docker-compose bind-mounts these files into containers that run as their own non-root users.
    certs = ClusterCertificates.create(args.directory, names, key_mode=0o644)
    print(f"wrote {certs.ca.parent}: CA, frontend certificate for {', '.join(names)}, client certificates")


if __name__ == "__main__":
    main()
