"""Where the CLI finds Temporal and Kubernetes: the environment first, then a running local cloud.

After `kaitoctl dev up`, every command works without exports; against a real cluster, the usual
`KUBECONFIG` and `KAITO_TEMPORAL_*` variables win.
"""

import os
from pathlib import Path

from connections.temporal import TemporalSettings, settings_or_exit
from localcloud.stack_file import StackInfo


def state_dir() -> Path:
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "kaito-temporal"
    return Path(os.environ.get("KAITO_STATE_DIR", default))


def running_stack(directory: Path | None = None) -> StackInfo | None:
    """The local cloud's endpoints when its supervisor is alive, else None."""
    return StackInfo.running(directory or state_dir())


def temporal_settings() -> TemporalSettings:
    settings = settings_or_exit()
    stack = running_stack()
    if stack and "KAITO_TEMPORAL_ADDRESS" not in os.environ:
        settings.address = stack.temporal
    return settings


def kubeconfig() -> str | None:
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    stack = running_stack()
    if stack:
        return stack.kubeconfig
    default = Path.home() / ".kube" / "config"
    return str(default) if default.exists() else None
