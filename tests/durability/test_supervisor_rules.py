"""The supervisor's rules on real child processes (short sleeps of `python -c`), with a millisecond
backoff: an exit is recorded and restarted, crashes in a row double the backoff, a failed start counts as
a crash, a held component waits for its release, and every change is reported."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from localcloud.processes import stop_process
from localcloud.supervision import Backoff, Component, Supervisor, hold, release
from tests.waiting import wait_for_async


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(initial=1.0, cap=30.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


class Child:
    """A child process the supervisor may restart; `fail_starts` of its starts raise before spawning."""

    def __init__(self, fail_starts: int = 0) -> None:
        self.process = self._spawn()
        self.starts = 0
        self.fail_starts = fail_starts

    @staticmethod
    def _spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    async def start(self) -> None:
        self.starts += 1
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("port in use")
        self.process = self._spawn()

    def component(self) -> Component:
        return Component("child", lambda: self.process.pid, self.process_exit, self.start)

    def process_exit(self) -> int | None:
        return self.process.poll()


@pytest.fixture
async def supervised(tmp_path: Path) -> AsyncIterator[tuple[Supervisor, Child, list[str]]]:
    changes: list[str] = []
    supervisor = Supervisor(
        tmp_path,
        lambda: changes.append(supervisor.components["child"].status.state),
        Backoff(initial=0.05, cap=0.4, reset_after=60),
        check_every=0.02,
    )
    child = Child()
    supervisor.add(child.component())
    task = asyncio.create_task(supervisor.run())
    yield supervisor, child, changes
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    stop_process(child.process, grace=5)


async def state_is(supervisor: Supervisor, state: str, restarts: int) -> None:
    async def reached() -> bool:
        status = supervisor.components["child"].status
        return status.state == state and status.restarts == restarts

    await wait_for_async(
        reached, f"{state} after {restarts} restarts", timeout=10,
        explain=lambda: str(supervisor.components["child"].status),
    )  # fmt: skip


async def restarted(supervisor: Supervisor, restarts: int) -> None:
    await state_is(supervisor, "running", restarts)


async def test_an_exit_is_recorded_and_restarted_with_a_doubling_backoff(
    supervised: tuple[Supervisor, Child, list[str]],
) -> None:
    supervisor, child, changes = supervised
    first = child.process.pid
    child.process.kill()
    await restarted(supervisor, 1)
    status = supervisor.components["child"].status
    assert status.last_exit == -9 and status.backoff_seconds == 0.05 and status.pid != first
    assert changes[:2] == ["restarting", "running"]

    child.process.kill()
    await restarted(supervisor, 2)
    assert supervisor.components["child"].status.backoff_seconds == 0.1, (
        "the second crash in a row waits twice"
    )


async def test_a_failed_start_counts_as_one_more_crash(
    supervised: tuple[Supervisor, Child, list[str]],
) -> None:
    supervisor, child, _ = supervised
    child.fail_starts = 2
    child.process.kill()
    await restarted(supervisor, 1)
    assert child.starts == 3
    assert supervisor.components["child"].status.backoff_seconds == 0.2, "crash, then two failed starts"


async def test_a_held_component_waits_for_its_release(
    supervised: tuple[Supervisor, Child, list[str]], tmp_path: Path
) -> None:
    supervisor, child, _ = supervised
    hold(tmp_path, "child")
    child.process.kill()
    await state_is(supervisor, "held", 0)
    assert child.starts == 0
    release(tmp_path, "child")
    await restarted(supervisor, 1)
