"""Supervision of the local cloud's processes, as a kubelet supervises a pod's containers.

Each component says how to tell its exit status and how to start it again (and wait until it serves).
The supervisor checks them twice a second; one that has exited is reported `restarting` with its exit
status, and started again after a backoff that doubles with each crash in a row (1 s, 2 s, 4 s … capped
at 30 s — CrashLoopBackOff) and resets once a start has run for a minute. A start that fails counts as
another crash. `restart_now()` (SIGUSR1 to `python -m localcloud.stack`, sent by a second
`kaitoctl dev up`) skips the backoff that is running.

An operator may hold a component down, as scaling a Deployment to zero does: while the file
`<state dir>/hold/<name>` exists the supervisor does not start it again (`hold`, `release`).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from localcloud.processes import process_start_time
from localcloud.stack_file import ComponentStatus

log = logging.getLogger("kaito.localcloud.supervisor")
HOLD_DIR = "hold"


@dataclass(frozen=True)
class Backoff:
    """CrashLoopBackOff's shape in seconds: `initial` doubled per crash in a row, at most `cap`."""

    initial: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0  # a start that ran this long ends the crash loop

    def delay(self, crashes: int) -> float:
        return float(min(self.cap, self.initial * 2 ** max(0, crashes - 1)))


@dataclass
class Component:
    """One supervised process: its PID, its exit status once it has exited, and how to start it again."""

    name: str
    pid: Callable[[], int | None]
    exit_code: Callable[[], int | None]  # None while it runs; reaps it once it has exited
    start: Callable[[], Awaitable[None]]  # starts a new process and returns once it serves
    status: ComponentStatus = field(default_factory=ComponentStatus)
    crashes: int = 0  # in a row
    started_at: float = 0.0


def hold_file(state_dir: Path, name: str) -> Path:
    return state_dir / HOLD_DIR / name


def hold(state_dir: Path, name: str) -> None:
    """Keep component `name` down once it exits (it is not stopped here: the caller stops it)."""
    path = hold_file(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def release(state_dir: Path, name: str) -> None:
    """Let the supervisor start component `name` again."""
    hold_file(state_dir, name).unlink(missing_ok=True)


def _exit_text(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit {code}"


class Supervisor:
    """Watches components and restarts the ones that exit; `on_change` hears every state change."""

    def __init__(
        self,
        state_dir: Path,
        on_change: Callable[[], None],
        backoff: Backoff | None = None,
        check_every: float = 0.5,
    ) -> None:
        self.state_dir = state_dir
        self.components: dict[str, Component] = {}
        self.backoff = backoff or Backoff()
        self._on_change = on_change
        self._check_every = check_every
        self._restarting: dict[str, asyncio.Task[None]] = {}
        self._now = asyncio.Event()

    def add(self, component: Component) -> None:
        """Supervise a component that has just started and serves."""
        self.components[component.name] = component
        self._mark_running(component)

    def statuses(self) -> dict[str, ComponentStatus]:
        return {name: c.status for name, c in self.components.items()}

    def restart_now(self) -> None:
        """Skip the backoff every restarting component is waiting out (a second `dev up`)."""
        self._now.set()

    def _mark_running(self, component: Component) -> None:
        pid = component.pid()
        component.started_at = time.monotonic()
        component.status = component.status.model_copy(
            update={
                "pid": pid, "start_time": process_start_time(pid) if pid else None, "state": "running",
                "message": "",
            }
        )  # fmt: skip

    async def run(self) -> None:
        """Check every component until cancelled; restarts run as tasks of their own."""
        try:
            while True:
                for component in list(self.components.values()):
                    if component.name not in self._restarting:
                        self._check(component)
                await asyncio.sleep(self._check_every)  # the probe period, as a kubelet's
        finally:
            for task in self._restarting.values():
                task.cancel()
            await asyncio.gather(*self._restarting.values(), return_exceptions=True)

    def _check(self, component: Component) -> None:
        code = component.exit_code()
        if code is None:
            return
        ran = time.monotonic() - component.started_at
        component.crashes = 1 if ran >= self.backoff.reset_after else component.crashes + 1
        self._exited(component, code)
        self._restarting[component.name] = asyncio.create_task(self._restart(component))

    def _exited(self, component: Component, code: int) -> None:
        delay = self.backoff.delay(component.crashes)
        component.status = component.status.model_copy(
            update={
                "state": "restarting", "last_exit": code, "last_exit_at": datetime.now(UTC),
                "backoff_seconds": delay,
            }
        )  # fmt: skip
        log.warning(
            "%s (pid %s) %s; restarting in %.0fs (crash %d in a row)",
            component.name, component.status.pid, _exit_text(code), delay, component.crashes,
        )  # fmt: skip
        self._on_change()

    async def _restart(self, component: Component) -> None:
        try:
            while True:
                await self._back_off(component.status.backoff_seconds)
                await self._wait_released(component)
                try:
                    await component.start()
                except Exception as error:  # a start that fails is one more crash
                    component.crashes += 1
                    delay = self.backoff.delay(component.crashes)
                    component.status = component.status.model_copy(
                        update={"backoff_seconds": delay, "message": f"start failed: {error}"[:2000]}
                    )
                    log.warning("%s did not start (%s); next try in %.0fs", component.name, error, delay)
                    self._on_change()
                    continue
                component.status = component.status.model_copy(
                    update={"restarts": component.status.restarts + 1}
                )
                self._mark_running(component)
                log.info("%s restarted as pid %s", component.name, component.status.pid)
                self._on_change()
                return
        finally:
            self._restarting.pop(component.name, None)

    async def _back_off(self, seconds: float) -> None:
        self._now.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._now.wait(), seconds)

    async def _wait_released(self, component: Component) -> None:
        held = hold_file(self.state_dir, component.name)
        if not held.exists():
            return
        component.status = component.status.model_copy(update={"state": "held"})
        log.info("%s is held down until %s is removed", component.name, held)
        self._on_change()
        while held.exists():
            await asyncio.sleep(self._check_every)
        component.status = component.status.model_copy(update={"state": "restarting"})
        self._on_change()
