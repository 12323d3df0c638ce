"""The local cloud with the workers' observability switched on: metrics on a port, traces to a receiver.

The stack's processes inherit this environment (the local cloud passes it on), so the provisioning
worker reads KAITO_METRICS_ADDRESS and KAITO_TRACING_OTLP_ENDPOINT as it would in a pod.
"""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from localcloud.processes import log_tail, stop_process
from localcloud.stack_file import StackInfo
from tests.conftest import ROOT
from tests.e2e.conftest import START_TIMEOUT, Stack
from tests.observability.otlp_receiver import OtlpReceiver
from tests.waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def metrics_url() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def observed_stack(
    tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver, metrics_url: str
) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("observed")
    log_path = state / "stack.log"
    env = {
        **os.environ,
        "KAITO_METRICS_ADDRESS": metrics_url,
        "KAITO_METRICS_SAMPLE_INTERVAL": "PT1S",
        "KAITO_TRACING_OTLP_ENDPOINT": otlp.endpoint,
        "KAITO_LOG_FORMAT": "json",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localcloud.stack", "--state-dir", str(state), "--ui-port", "0",
             "--temporal-port", "0", "--exit-with-parent"],
            cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip

        def started() -> StackInfo | None:
            if process.poll() is not None:
                raise AssertionError(
                    f"the local cloud exited ({process.returncode}):\n{log_tail(log_path, 60)}"
                )
            return StackInfo.read(state)

        try:
            info = wait_for(
                started, "the local cloud to write stack.json", timeout=START_TIMEOUT,
                explain=lambda: log_tail(log_path, 60),
            )  # fmt: skip
            yield Stack(info=info, state_dir=state)
        finally:
            stop_process(process, grace=90)
