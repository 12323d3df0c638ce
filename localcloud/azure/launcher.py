"""Run the emulator as a child process: start it, learn its URL from its first stdout line, wait until
`/_emulator/health` answers (probing with a deadline, never a fixed sleep), and stop it by PID.

Used where the emulator must survive or be killed independently of the caller (restart tests,
`kaitoctl dev up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from localcloud.azure.config import EmulatorConfig
from localcloud.azure.sdk_kwargs import EmulatorEndpoint


class EmulatorStartError(RuntimeError):
    """The child exited or did not become ready before the deadline."""


class AzureEmulatorProcess(EmulatorEndpoint):
    def __init__(
        self,
        config: EmulatorConfig,
        *,
        python: str = sys.executable,
        log_file: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self._python = python
        self._log_file = log_file
        self._env = env
        self._proc: asyncio.subprocess.Process | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="azure-emulator-proc-"))
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("not started")
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has exited (negative: the signal), None while it runs."""
        return self._proc.returncode if self._proc is not None else None

    @property
    def base_url(self) -> str:
        return str(self.info["url"])

    @property
    def ca_file(self) -> Path:
        return Path(self.info["caFile"])

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    async def start(self, timeout: float = 30.0) -> None:
        if self._proc is not None and self._proc.returncode is None:
            raise RuntimeError(f"already running as PID {self._proc.pid}")
        config_file = self._workdir / "config.json"
        config_file.write_text(self.config.model_dump_json())
        stderr_path = self._log_file or self._workdir / "stderr.log"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with stderr_path.open("ab") as stderr:
            self._proc = await asyncio.create_subprocess_exec(
                self._python,
                "-m",
                "localcloud.azure",
                "--config",
                str(config_file),
                "--log-level",
                "INFO",
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=self._env,
                cwd=str(Path.cwd()),
            )
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), max(0.1, deadline - loop.time()))
        except TimeoutError as exc:
            await self.kill()
            raise EmulatorStartError(f"no ready line within {timeout}s; see {stderr_path}") from exc
        if not line:
            await self._proc.wait()
            raise EmulatorStartError(
                f"emulator exited with {self._proc.returncode}: {stderr_path.read_text()[-2000:]}"
            )
        self.info = json.loads(line)
        self.config.port = self.port  # a restart comes back on the same port, so pollers keep working
        await self._wait_healthy(deadline)

    async def _wait_healthy(self, deadline: float) -> None:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        loop = asyncio.get_running_loop()
        delay = 0.02
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(
                        f"{self.base_url}/_emulator/health", timeout=aiohttp.ClientTimeout(total=2)
                    ) as resp:
                        if resp.status == 200:
                            return
                if self._proc is not None and self._proc.returncode is not None:
                    raise EmulatorStartError(f"emulator exited with {self._proc.returncode}")
                if loop.time() >= deadline:
                    raise EmulatorStartError(f"{self.base_url} not healthy before the deadline")
                await asyncio.sleep(delay)  # probe interval; the deadline bounds the wait
                delay = min(delay * 2, 0.5)

    async def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by PID (the emulator saves its state), SIGKILL if it has not exited by the deadline."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return proc.returncode if proc else None
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            return await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            return await self.kill()

    async def kill(self) -> int | None:
        """SIGKILL by PID: a crash, as far as the emulator can tell."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return proc.returncode if proc else None
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        return await proc.wait()
