"""Where the CLI finds Temporal and Kubernetes: the environment first, then a running local cloud.

After `kaitoctl dev up`, every command works without exports; against a real cluster, the usual
`KUBECONFIG` and `KAITO_TEMPORAL_*` variables win.
"""

import json
import os
from pathlib import Path
from typing import Any

from connections.temporal import TemporalSettings

STACK_FILE = "stack.json"


def state_dir() -> Path:
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "kaito-temporal"
    return Path(os.environ.get("KAITO_STATE_DIR", default))


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_stack(directory: Path | None = None) -> dict[str, Any] | None:
    """The local cloud's endpoints when its supervisor is alive, else None."""
    path = (directory or state_dir()) / STACK_FILE
    try:
        stack: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stack if pid_alive(stack.get("pid")) else None


def temporal_settings() -> TemporalSettings:
    settings = TemporalSettings()
    stack = running_stack()
    if stack and "KAITO_TEMPORAL_ADDRESS" not in os.environ:
        settings.address = str(stack["temporal"])
    return settings


def kubeconfig() -> str | None:
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    stack = running_stack()
    if stack:
        return str(stack["kubeconfig"])
    default = Path.home() / ".kube" / "config"
    return str(default) if default.exists() else None
