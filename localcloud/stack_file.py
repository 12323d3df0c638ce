"""`stack.json`: where a running local cloud listens, its PIDs, and how it bootstrapped its cluster.

The supervisor (`python -m localcloud.stack`) writes it once everything serves and removes it on the way
down; `kaitoctl` and the tests read it to find Temporal, the apiserver and the Azure emulator without
any exports. A file whose supervisor PID is gone describes nothing (a killed stack leaves it behind).
"""

from datetime import datetime
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from localcloud.atomic_file import write_atomically
from localcloud.processes import pid_alive, process_start_time
from workflows.bootstrap_contracts import BootstrapRequest

STACK_FILE = "stack.json"


class _CamelCase(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True)


class BootstrapSummary(_CamelCase):
    """The bootstrap workflow the stack ran, and the workload identity it left the worker."""

    workflow_id: str
    task_queue: str
    request: BootstrapRequest
    client_id: str
    principal_id: str
    issuer: str
    subject: str
    worker_token_file: str | None = None


ComponentState = Literal["starting", "running", "restarting", "held"]


class ComponentStatus(_CamelCase):
    """One supervised process as the supervisor last saw it, as a kubelet reports a container.

    `restarting` is CrashLoopBackOff: the process exited and the next start waits out `backoff_seconds`
    (1 s, 2 s, 4 s … capped); `held`: an operator keeps it down on purpose (`localcloud.supervision`).
    """

    pid: int | None = None
    start_time: int | None = None  # /proc start time of `pid`: tells it from a recycled PID
    state: ComponentState = "starting"
    restarts: int = 0
    last_exit: int | None = None  # exit status; negative: the signal that ended it (-9 = SIGKILL)
    last_exit_at: datetime | None = None
    backoff_seconds: float = 0.0  # the wait before the coming start (restarting) or the last one
    message: str = ""  # why the last start failed, if it did

    @property
    def alive(self) -> bool:
        """The recorded process itself still runs (not exited, not a zombie, not a recycled PID)."""
        return self.pid is not None and process_start_time(self.pid) == self.start_time

    def truth(self) -> ComponentState | Literal["dead"]:
        """What a reader sees now: a component recorded running whose process is gone is dead."""
        if self.state == "running" and not self.alive:
            return "dead"
        return self.state


class StackInfo(_CamelCase):
    """One running local cloud, as `stack.json` holds it (camelCase keys)."""

    pid: int  # the supervisor's: `kaitoctl dev down` signals it, and it stops everything else
    temporal: str
    temporal_ui: str = Field(alias="temporalUI")
    kubeconfig: str
    apiserver: str
    kubectl: str
    azure: str
    azure_ca: str = Field(alias="azureCA")
    boot_delay_seconds: float
    logs: str
    bootstrap: BootstrapSummary | None = None
    startup_seconds: dict[str, float] = {}
    pids: dict[str, int] = {}
    components: dict[str, ComponentStatus] = {}

    @staticmethod
    def path(directory: Path) -> Path:
        return directory / STACK_FILE

    @classmethod
    def read(cls, directory: Path) -> Self | None:
        """The file's content, or None when there is none or it is not a stack file."""
        try:
            return cls.model_validate_json(cls.path(directory).read_bytes())
        except (OSError, ValueError):
            return None

    @classmethod
    def running(cls, directory: Path) -> Self | None:
        """The stack whose supervisor is alive, else None."""
        info = cls.read(directory)
        return info if info is not None and info.alive else None

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)

    def write(self, directory: Path) -> None:
        write_atomically(self.path(directory), self.model_dump_json(indent=2))  # readers poll it

    @classmethod
    def remove(cls, directory: Path) -> None:
        cls.path(directory).unlink(missing_ok=True)
