"""A PostgreSQL cluster of its own for the Temporal server: Debian's postgresql binaries, `initdb` into a
private data directory, `postgres` on a free loopback port, stopped by PID.

PostgreSQL refuses to run as root, so when we are root the cluster runs as Debian's `postgres` user, in a
data directory that user can reach (our state directories are usually private to root).
"""

import asyncio
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from localcloud.ports import free_port

POSTGRES_BIN_ENV = "KAITO_POSTGRES_BIN"
DEBIAN_POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "temporal"  # the role the server and its schema tool use (it owns both databases)


def postgres_bin_dir() -> Path:
    """Where initdb and postgres are: `KAITO_POSTGRES_BIN`, Debian's postgresql 15, or PATH."""
    if os.environ.get(POSTGRES_BIN_ENV):
        return Path(os.environ[POSTGRES_BIN_ENV])
    if (DEBIAN_POSTGRES_BIN / "postgres").exists():
        return DEBIAN_POSTGRES_BIN
    found = shutil.which("initdb")
    if found is None:
        raise RuntimeError(
            f"PostgreSQL is not installed: no {DEBIAN_POSTGRES_BIN}/postgres and no initdb on PATH "
            "(scripts/install.sh installs Debian's postgresql)"
        )
    return Path(found).parent


class PostgresCluster:
    """One PostgreSQL server with a password-authenticated superuser; its data survives a restart."""

    def __init__(self, state_dir: Path, log_file: Path, *, port: int = 0) -> None:
        self.state_dir = state_dir
        self.log_file = log_file
        self.port = port or free_port()
        self.bin_dir = postgres_bin_dir()
        self.run_as = _unprivileged_user()
        self.data_dir = self._data_dir()
        # Beside the data directory, so the two always match (ours to read; the server gets it via config).
        password_file = self.data_dir.with_name(self.data_dir.name + ".password")
        if not password_file.exists():
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.touch(mode=0o600)
            password_file.write_text(secrets.token_urlsafe(24))
        self.password = password_file.read_text().strip()
        self.process: subprocess.Popen[bytes] | None = None

    def _data_dir(self) -> Path:
        if self.run_as is None:
            return self.state_dir / "postgres"
        # Reachable by the postgres user, and the same for the same state directory across restarts.
        digest = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"kaito-temporal-postgres-{digest}"

    def _run(self, argv: list[str]) -> None:
        with self.log_file.open("ab") as log:
            subprocess.run(argv, check=True, stdout=log, stderr=subprocess.STDOUT, user=self.run_as)

    def _initdb(self) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        pwfile = self.data_dir.with_name(self.data_dir.name + ".pw")
        pwfile.touch(mode=0o600)
        pwfile.write_text(self.password)
        try:
            if self.run_as is not None:
                entry = pwd.getpwnam(self.run_as)
                for path in (self.data_dir, pwfile):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            self._run([
                str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync",
            ])  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    async def start(self, timeout: float = 60.0) -> None:
        """initdb on first use, then the server on 127.0.0.1 (TCP only), until it accepts connections."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            await asyncio.to_thread(self._initdb)
        argv = [
            str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
            "-c", "fsync=off", "-c", "max_connections=200",
        ]  # fmt: skip
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, user=self.run_as, start_new_session=True
            )
        deadline = asyncio.get_running_loop().time() + timeout
        while not await asyncio.to_thread(self._accepting):
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited ({self.process.returncode}); see {self.log_file}")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"postgres not accepting connections after {timeout:.0f}s; see {self.log_file}"
                )
            await asyncio.sleep(0.1)

    def _accepting(self) -> bool:
        ready = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
        )
        return ready.returncode == 0

    async def stop(self) -> None:
        """Fast shutdown (SIGINT: clients are disconnected, the data stays consistent) by PID."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)

    def discard(self) -> None:
        """Remove the data directory and what lies beside it (a stopped cluster's; tests do this)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        for sibling in self.data_dir.parent.glob(self.data_dir.name + ".*"):
            sibling.unlink(missing_ok=True)


def _unprivileged_user() -> str | None:
    """None when we are not root; else Debian's `postgres` user, which the postgresql package creates."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root, and PostgreSQL refuses root: create a `postgres` user "
            "(Debian's postgresql package does) or run as a non-root user"
        ) from None
    return "postgres"
