"""The local cloud's child processes, by PID: whether one still runs, stopping one, the end of its log.

Every process is started by PID and stopped by PID (never by name), so these are the only helpers the
supervisor, the control plane, the CLI and the tests need to tell "running" from "gone".
"""

import subprocess
from pathlib import Path


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), or None when gone.

    Paired with the PID it identifies a process even after the PID is recycled. A zombie counts as gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def pid_alive(pid: int | None) -> bool:
    """True while a process with this PID runs (an exited one not yet reaped counts as gone)."""
    if not pid:
        return False
    return process_start_time(pid) is not None


def stop_process(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited after `grace` seconds; always reaped."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a child's log, for an error that says why it did not start."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
