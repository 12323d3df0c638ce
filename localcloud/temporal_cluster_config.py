"""The configuration files of the production-shape Temporal cluster: the server's (PostgreSQL persistence
and visibility, an mTLS frontend, every service on loopback) and the UI server's.

The same shape runs in docker-compose; only hosts, ports and file paths differ.
"""

import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from localcloud.temporal_cluster_tls import SERVER_NAME, ClusterCertificates

HISTORY_SHARDS = 4  # fixed at schema setup: a cluster cannot change it later
POSTGRES_PLUGIN = "postgres12"
DATABASES = {"temporal": "postgresql/v12/temporal", "temporal_visibility": "postgresql/v12/visibility"}
"""Each database and the server's embedded schema the SQL tool applies to it."""


def free_port() -> int:
    """A free loopback port below 32768: the server records its membership ports in a PostgreSQL
    `smallint` column, and the kernel's own picks come from the ephemeral range above it."""
    for _ in range(200):
        port = random.randint(20000, 32767)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32767 on 127.0.0.1")


@dataclass
class ClusterPorts:
    """Every port the server listens on (each service's gRPC and membership), fixed across restarts."""

    frontend: int
    ui: int
    frontend_http: int = field(default_factory=free_port)
    services: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {
            name: (free_port(), free_port()) for name in ("frontend", "history", "matching", "worker")
        }
    )

    def __post_init__(self) -> None:
        self.frontend = self.frontend or free_port()
        self.ui = self.ui or free_port()


@dataclass(frozen=True)
class PostgresEndpoint:
    host: str
    port: int
    user: str
    password: str


def server_config(
    ports: ClusterPorts, postgres: PostgresEndpoint, certs: ClusterCertificates, dynamic_config: Path
) -> dict[str, Any]:
    """The server's config file as a mapping (yaml-dumped by the caller)."""

    def datastore(database: str, connections: int) -> dict[str, Any]:
        return {
            "sql": {
                "pluginName": POSTGRES_PLUGIN,
                "databaseName": database,
                "connectAddr": f"{postgres.host}:{postgres.port}",
                "connectProtocol": "tcp",
                "user": postgres.user,
                "password": postgres.password,
                "maxConns": connections,
                "maxIdleConns": connections,
                "maxConnLifetime": "1h",
            }
        }

    frontend_client = {"serverName": SERVER_NAME, "rootCaFiles": [str(certs.ca)]}
    services: dict[str, Any] = {}
    for name, (grpc, membership) in ports.services.items():
        rpc: dict[str, Any] = {"grpcPort": grpc, "membershipPort": membership, "bindOnIP": "127.0.0.1"}
        if name == "frontend":
            rpc["grpcPort"] = ports.frontend
            rpc["httpPort"] = ports.frontend_http
        services[name] = {"rpc": rpc}
    return {
        "log": {"stdout": True, "level": "warn"},
        "persistence": {
            "defaultStore": "default",
            "visibilityStore": "visibility",
            "numHistoryShards": HISTORY_SHARDS,
            "datastores": {
                "default": datastore("temporal", 20),
                "visibility": datastore("temporal_visibility", 4),
            },
        },
        "global": {
            "membership": {"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"},
            "tls": {
                "frontend": {
                    "server": {
                        "certFile": str(certs.server_cert),
                        "keyFile": str(certs.server_key),
                        "requireClientAuth": True,
                        "clientCaFiles": [str(certs.ca)],
                    },
                    "client": frontend_client,
                },
                "systemWorker": {
                    "certFile": str(certs.system_worker_cert),
                    "keyFile": str(certs.system_worker_key),
                    "client": frontend_client,
                },
            },
        },
        "services": services,
        "clusterMetadata": {
            "enableGlobalNamespace": False,
            "failoverVersionIncrement": 10,
            "masterClusterName": "active",
            "currentClusterName": "active",
            "clusterInformation": {
                "active": {
                    "enabled": True,
                    "initialFailoverVersion": 1,
                    "rpcName": "frontend",
                    "rpcAddress": f"127.0.0.1:{ports.frontend}",
                    "httpAddress": f"127.0.0.1:{ports.frontend_http}",
                }
            },
        },
        "dcRedirectionPolicy": {"policy": "noop"},
        "archival": {"history": {"state": "disabled"}, "visibility": {"state": "disabled"}},
        "namespaceDefaults": {
            "archival": {"history": {"state": "disabled"}, "visibility": {"state": "disabled"}}
        },
        "dynamicConfigClient": {"filepath": str(dynamic_config), "pollInterval": "10s"},
    }


DYNAMIC_CONFIG: dict[str, Any] = {
    # A search attribute registered a moment ago is usable at once (the UI and our upserts).
    "system.forceSearchAttributesCacheRefreshOnRead": [{"value": True}],
}


def ui_config(ports: ClusterPorts, certs: ClusterCertificates) -> dict[str, Any]:
    """The UI server's config: it reaches the frontend with our client certificate."""
    return {
        "temporalGrpcAddress": f"127.0.0.1:{ports.frontend}",
        "host": "127.0.0.1",
        "port": ports.ui,
        "enableUi": True,
        "defaultNamespace": "default",
        "disableNewsFetch": True,
        "notifyOnNewVersion": False,
        "cors": {"cookieInsecure": True, "allowOrigins": [f"http://127.0.0.1:{ports.ui}"]},
        "tls": {
            "caFile": str(certs.ca),
            "certFile": str(certs.client_cert),
            "keyFile": str(certs.client_key),
            "serverName": SERVER_NAME,
            "enableHostVerification": True,
        },
        "auth": {"enabled": False},
    }


def write_yaml(path: Path, content: dict[str, Any], *, private: bool = False) -> Path:
    """Write a config file; `private` for one holding a password (owner-readable only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if private:
        path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path
