"""One supervised local cloud for the security tests, bootstrapped with the worker's namespaced rights only
in `default` (as an operator restricting it to the workspace namespaces would), one workspace provisioned
on it; helpers to act as the worker or the controllers with exactly what their processes hold."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcloud.azure.sdk_kwargs import client_kwargs, credential_kwargs
from tests.durability.conftest import component, stack_process
from tests.e2e.conftest import STEP_TIMEOUT, Stack, example
from tests.e2e.test_seed_walkthrough import ready
from tests.waiting import wait_for

WORKSPACE = "guarded"
NAMESPACE = "kaito-system"
WORKER_SA = "kaito-worker"
CONTROLLER_SA = "kaito-controller"


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("localcloud")
    with stack_process(state, "--boot-delay", "1", "--workspace-namespace", "default") as running:
        running.apply(example("workspace-phi-3-mini.yaml", name=WORKSPACE, namespace="default"))
        wait_for(lambda: ready(running, WORKSPACE), f"{WORKSPACE} to be Ready", timeout=STEP_TIMEOUT)
        yield running


def environment(stack: Stack, name: str) -> dict[str, str]:
    """The environment component `name` runs with, as its process holds it (/proc)."""
    pid = component(stack, name).pid
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def kubeconfig_of(stack: Stack, name: str) -> Path:
    env = environment(stack, name)
    return Path(env.get("KAITO_KUBECONFIG") or env["KUBECONFIG"])


def as_component(stack: Stack, name: str, *args: str) -> Any:
    """kubectl with component `name`'s own kubeconfig (its service account's token)."""
    return stack.kubectl("--kubeconfig", str(kubeconfig_of(stack, name)), *args, check=False)


def kubeconfig_user(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    users: list[dict[str, Any]] = loaded["users"]
    assert len(users) == 1
    user: dict[str, Any] = users[0]["user"]
    return user


def azure_kwargs(stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """(credential kwargs, ARM client kwargs) for the emulator of this stack."""
    ca = Path(stack.info.azure_ca)
    return credential_kwargs(stack.info.azure, ca), client_kwargs(stack.info.azure, ca)
