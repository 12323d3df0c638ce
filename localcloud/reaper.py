"""Orphan reaper: kills a control plane's processes when the Python process that started it dies.

Why a separate process and not PR_SET_PDEATHSIG: the death signal fires when the *thread* that
forked the child exits (asyncio.to_thread workers, executor shutdown), and preexec_fn is unsafe
in processes with threads (Temporal's core, gRPC). The reaper instead holds the read end of a
pipe whose only write end lives in the parent; the kernel closes it whatever way the parent
dies (SIGKILL included), and the reaper then kills every registered process group.

Protocol on stdin, one line each: ``+PID STARTTIME`` registers, ``-PID`` forgets,
``rm PATH`` removes a directory after the kill. Run as ``python -m localcloud.reaper``.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time

from localcloud.processes import process_start_time

_TERM_GRACE_S = 5.0


def is_alive(pid: int, start_time: int) -> bool:
    """True while the process that had `start_time` still runs (not exited, not a zombie)."""
    return process_start_time(pid) == start_time


def _kill_group(pid: int, sig: int) -> None:
    # Children run as session leaders, so their process group id is their PID; the group also
    # catches anything they spawned.
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            continue


def reap(procs: dict[int, int], grace_s: float = _TERM_GRACE_S) -> None:
    """SIGTERM every live registered process group, then SIGKILL whatever outlives `grace_s`."""
    live = {pid: st for pid, st in procs.items() if is_alive(pid, st)}
    for pid in live:
        _kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while live and time.monotonic() < deadline:
        live = {pid: st for pid, st in live.items() if is_alive(pid, st)}
        if live:
            time.sleep(0.05)  # polling processes we are not the parent of; no wait() exists
    for pid in live:
        _kill_group(pid, signal.SIGKILL)


def main() -> None:
    """Read registrations until EOF, then reap."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only EOF (the parent's death or close) ends us
    procs: dict[int, int] = {}
    dirs: list[str] = []
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd.startswith("+"):
            procs[int(cmd[1:])] = int(arg)
        elif cmd.startswith("-"):
            procs.pop(int(cmd[1:]), None)
        elif cmd == "rm":
            dirs.append(arg)
    reap(procs)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
