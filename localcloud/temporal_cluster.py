"""The production-shape Temporal for the local cloud: the Temporal server built from Go modules
(`scripts/build-temporal-server.sh`) on a PostgreSQL cluster of its own, its frontend requiring client
certificates (mTLS), and the Temporal UI server, all on 127.0.0.1.

The launcher has the dev server's interface (`address`, `ui_url`, `process`, `start()` returning a
connected client, `stop()`, `client_env()`), so `LocalCloud` runs on either. What the dev server does by
itself is done here the way an operator does it: the schema applied with the server's own
`temporal-sql-tool`, the `default` namespace registered, our search attributes added.
"""

import argparse
import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from connections.temporal import TemporalSettings, connect, load_settings
from localcloud.ports import port_open
from localcloud.processes import stop_process
from localcloud.temporal_cluster_config import (
    DATABASES,
    DYNAMIC_CONFIG,
    POSTGRES_PLUGIN,
    ClusterPorts,
    PostgresEndpoint,
    server_config,
    ui_config,
    write_yaml,
)
from localcloud.temporal_cluster_postgres import SUPERUSER, PostgresCluster
from localcloud.temporal_cluster_tls import SERVER_NAME, ClusterCertificates
from workflows import search_attributes as sa

BIN_ENV = "KAITO_TEMPORAL_SERVER_BIN"
REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "scripts" / "build-temporal-server.sh"
NAMESPACE = "default"
RETENTION = timedelta(days=3)
CLIENT_ENV_FILE = "client.env"
"""In the cluster's directory: the `KAITO_TEMPORAL_*` variables a client outside the local cloud needs."""


def server_bin_dir() -> Path:
    """`KAITO_TEMPORAL_SERVER_BIN`, else the build script's cache (instant when built, minutes cold)."""
    if os.environ.get(BIN_ENV):
        return Path(os.environ[BIN_ENV])
    built = subprocess.run([str(BUILD_SCRIPT)], check=True, capture_output=True, text=True)
    return Path(built.stdout.strip().splitlines()[-1])


class TemporalCluster:
    """PostgreSQL + Temporal server (mTLS frontend) + Temporal UI, started and stopped by PID."""

    def __init__(self, directory: Path, log_dir: Path, *, port: int = 0, ui_port: int = 0) -> None:
        self.directory = directory
        self.log_dir = log_dir
        self.bin_dir = server_bin_dir()
        self.ports = ClusterPorts(frontend=port, ui=ui_port)
        self.postgres = PostgresCluster(directory, log_dir / "postgres.log")
        self.certs: ClusterCertificates | None = None
        self.process: subprocess.Popen[bytes] | None = None  # the Temporal server
        self.ui_process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports.frontend}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.ui}"

    @property
    def pids(self) -> dict[str, int]:
        running = {
            "postgres": self.postgres.process,
            "temporal": self.process,
            "temporal-ui": self.ui_process,
        }
        return {name: p.pid for name, p in running.items() if p is not None}

    def settings(self) -> TemporalSettings:
        """mTLS with our client certificate: how every process of ours connects."""
        assert self.certs is not None, "start() first"
        return TemporalSettings(
            address=self.address,
            namespace=NAMESPACE,
            tls_server_ca=self.certs.ca,
            tls_client_cert=self.certs.client_cert,
            tls_client_key=self.certs.client_key,
            tls_server_name=SERVER_NAME,
        )

    def client_env(self) -> dict[str, str]:
        return self.settings().client_env()

    async def start(self, timeout: float = 120.0) -> Client:
        """PostgreSQL, the schema, the server, the namespace and search attributes, the UI; a client."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.certs = ClusterCertificates.create(self.directory / "tls")
        await self.postgres.start()
        await asyncio.to_thread(self._apply_schema)
        client = await self.start_server(timeout)
        await self._register(client)
        await self._start_ui(timeout)
        exports = "".join(f"export {key}={value}\n" for key, value in self.client_env().items())
        (self.directory / CLIENT_ENV_FILE).write_text(exports)
        return client

    def _sql_tool(self, database: str, *command: str) -> None:
        argv = [
            str(self.bin_dir / "temporal-sql-tool"), "--plugin", POSTGRES_PLUGIN, "--ep", "127.0.0.1",
            "-p", str(self.postgres.port), "-u", SUPERUSER, "--db", database, *command,
        ]  # fmt: skip
        env = {**os.environ, "SQL_PASSWORD": self.postgres.password}  # never on a command line
        with (self.log_dir / "temporal-schema.log").open("ab") as log:
            subprocess.run(argv, env=env, check=True, stdout=log, stderr=subprocess.STDOUT)

    def _apply_schema(self) -> None:
        """Create each database and its versioning tables once, then update it to the server's schema
        (a no-op when current; after a server upgrade, the migration)."""
        marker = self.postgres.data_dir.with_name(self.postgres.data_dir.name + ".schema-created")
        for database, schema in DATABASES.items():
            if not marker.exists():
                self._sql_tool(database, "create-database")
                self._sql_tool(database, "setup-schema", "-v", "0.0")
            self._sql_tool(database, "update-schema", "--schema-name", schema)
            if database == list(DATABASES)[-1]:
                marker.touch()

    def _write_configs(self) -> Path:
        assert self.certs is not None
        dynamic = write_yaml(self.directory / "dynamicconfig.yaml", DYNAMIC_CONFIG)
        endpoint = PostgresEndpoint("127.0.0.1", self.postgres.port, SUPERUSER, self.postgres.password)
        config = server_config(self.ports, endpoint, self.certs, dynamic)
        return write_yaml(self.directory / "server.yaml", config, private=True)

    async def start_server(self, timeout: float = 120.0) -> Client:
        """The Temporal server alone (PostgreSQL already up): spawn, then connect over mTLS."""
        config = self._write_configs()
        with (self.log_dir / "temporal.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.bin_dir / "temporal-server"), "--config-file", str(config), "--allow-no-auth",
                 "start"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"temporal-server exited ({self.process.returncode}); see {self.log_dir / 'temporal.log'}"
                )
            if port_open(self.ports.frontend):
                try:  # connecting asks the frontend for its system info: it serves
                    return await connect(self.settings())
                except RuntimeError:
                    pass
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"temporal-server not serving after {timeout:.0f}s; see {self.log_dir}")
            await asyncio.sleep(0.2)

    async def stop_server(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await asyncio.to_thread(stop_process, process, 30.0)

    async def restart(self) -> Client:
        return await self.restart_server()

    async def restart_server(self, timeout: float = 120.0) -> Client:
        """Stop the Temporal server by PID and start it again on the same database and ports."""
        await self.stop_server()
        client = await self.start_server(timeout)
        await namespace_ready(client, timeout)
        return client

    async def _register(self, client: Client) -> None:
        await register_namespace(client)

    async def _start_ui(self, timeout: float) -> None:
        assert self.certs is not None
        root = self.directory / "ui"
        write_yaml(root / "config" / "production.yaml", ui_config(self.ports, self.certs))
        argv = [str(self.bin_dir / "temporal-ui-server"), "--root", str(root), "--config", "config",
                "--env", "production", "start"]  # fmt: skip
        with (self.log_dir / "temporal-ui.log").open("ab") as log:
            self.ui_process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = asyncio.get_running_loop().time() + timeout
        while not port_open(self.ports.ui):
            if self.ui_process.poll() is not None:
                raise RuntimeError(f"temporal-ui-server exited; see {self.log_dir / 'temporal-ui.log'}")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"temporal-ui-server not listening after {timeout:.0f}s")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """UI, server, PostgreSQL — by PID; the data stays for the next start."""
        (self.directory / CLIENT_ENV_FILE).unlink(missing_ok=True)
        ui, self.ui_process = self.ui_process, None
        if ui is not None:
            await asyncio.to_thread(stop_process, ui)
        await self.stop_server()
        await self.postgres.stop()


async def register_namespace(client: Client) -> None:
    """The `default` namespace and our search attributes, as an operator registers them (idempotent)."""
    service = client.workflow_service
    try:
        await service.describe_namespace(DescribeNamespaceRequest(namespace=NAMESPACE))
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        retention = Duration()
        retention.FromTimedelta(RETENTION)
        await service.register_namespace(
            RegisterNamespaceRequest(namespace=NAMESPACE, workflow_execution_retention_period=retention)
        )
    await namespace_ready(client, 60.0)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=NAMESPACE)
    )
    missing = {key.name for key in sa.ALL} - set(listed.custom_attributes)
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=NAMESPACE,
                search_attributes=dict.fromkeys(missing, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD),
            )
        )


async def namespace_ready(client: Client, timeout: float) -> None:
    """Until the frontend's namespace cache knows `default` (a fresh registration takes seconds)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=NAMESPACE))
            await client.count_workflows()
            return
        except RPCError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.2)


async def _register_from_environment(timeout: float) -> None:
    """Connect with `KAITO_TEMPORAL_*` (retrying while the server starts), then register."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            client = await connect(load_settings())
            break
        except RuntimeError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1.0)
    await register_namespace(client)


async def _polled(task_queue: str) -> int:
    """How many pollers the task queue's workflow side has (a worker that serves it polls it)."""
    client = await connect(load_settings())
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(described.pollers)


def main() -> None:
    """docker-compose's helpers, connecting with `KAITO_TEMPORAL_*`:
    `register` (the one-shot namespace setup) and `polled QUEUE` (a worker's healthcheck: exit 1 while
    nobody polls its task queue)."""
    parser = argparse.ArgumentParser(description="Temporal setup and health for docker-compose.")
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register", help="the default namespace and our search attributes")
    register.add_argument("--timeout", type=float, default=120.0)
    polled = commands.add_parser("polled", help="exit 0 once a worker polls this task queue")
    polled.add_argument("task_queue")
    args = parser.parse_args()
    code = 0
    try:
        if args.command == "register":
            asyncio.run(_register_from_environment(args.timeout))
            print(f"namespace {NAMESPACE} ready with search attributes {', '.join(k.name for k in sa.ALL)}")
        else:
            pollers = asyncio.run(_polled(args.task_queue))
            print(f"{args.task_queue}: {pollers} poller(s)")
            code = 0 if pollers else 1
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except Exception as error:  # a one-shot job's failure: one line and exit 1, as compose reads it
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        code = 1
    # A short-lived Temporal client can abort the interpreter's teardown (PyGILState_Release) after its
    # work is done, turning success into SIGABRT; the exit code is decided here, so leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def client_exports(state_dir: Path) -> str | None:
    """The `export KAITO_TEMPORAL_*=…` lines for a local cloud on this cluster; None on the dev server."""
    path = state_dir / "temporal-cluster" / CLIENT_ENV_FILE
    return (
        " ".join(line.removeprefix("export ") for line in path.read_text().splitlines())
        if path.exists()
        else None
    )


if __name__ == "__main__":
    main()
