"""Two controller replicas, one active: the Lease in `controllers.leadership` on the real control plane."""

import os
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from controllers.leadership import Elector, LeaseTimings, wait_for_leadership
from localcloud.controlplane import ControlPlane
from localcloud.processes import stop_process
from tests.conftest import ROOT
from tests.devserver.conftest import target_of
from tests.observability.conftest import free_port
from tests.waiting import wait_for

FAST = LeaseTimings(duration=2, renew=0.5, retry=0.2)


@pytest.fixture
def lease_namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"lease-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def api(control_plane: ControlPlane) -> Iterator[Any]:
    client = control_plane.api_client()
    yield client
    client.close()


def test_one_leader_the_standby_takes_over_when_it_stops_renewing(api: Any, lease_namespace: str) -> None:
    a = Elector(api, lease_namespace, "replica-a", timings=FAST)
    b = Elector(api, lease_namespace, "replica-b", timings=FAST)
    assert a.try_acquire_or_renew(), "the first candidate creates the Lease"
    assert not b.try_acquire_or_renew(), "the second waits while the leader renews"
    assert a.try_acquire_or_renew() and not b.try_acquire_or_renew()
    # replica-a stops renewing (a crash, a partition): after the lease duration, replica-b leads.
    wait_for(b.try_acquire_or_renew, "the standby to take the expired Lease", timeout=10)
    assert b.holder() == "replica-b"
    assert not a.try_acquire_or_renew(), "the old leader learns it lost the Lease and must stop"


def test_a_released_lease_passes_at_once_and_the_standby_answers_its_probe(
    api: Any, lease_namespace: str
) -> None:
    leader = Elector(api, lease_namespace, "replica-a", timings=LeaseTimings(duration=300, retry=0.2))
    standby = Elector(api, lease_namespace, "replica-b", timings=LeaseTimings(duration=300, retry=0.2))
    assert leader.try_acquire_or_renew()
    port = free_port()
    waiting = threading.Thread(
        target=wait_for_leadership, args=(standby, f"http://127.0.0.1:{port}/healthz"), daemon=True
    )
    waiting.start()

    def probe() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return bool(answer.status == 200)

    assert wait_for(probe, "the standby's liveness answer", timeout=10, tolerate=(OSError,))
    assert waiting.is_alive(), "a 300 s lease held by the leader keeps the standby waiting"
    leader.release()  # a clean shutdown: no need to wait out the 300 s
    waiting.join(timeout=10)
    assert not waiting.is_alive() and standby.holder() == "replica-b"


def test_two_controller_processes_one_active_and_the_standby_takes_over_on_sigterm(
    control_plane: ControlPlane, dev_server: WorkflowEnvironment, lease_namespace: str, tmp_path: Path
) -> None:
    """`python -m controllers` twice, as the chart's two replicas run: one runs kopf, one waits."""
    control_plane.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy/crds/workspace.kaito.sh.yaml"))
    replicas: dict[str, tuple[subprocess.Popen[bytes], Path, int]] = {}

    def start(name: str) -> Path:
        log, port = tmp_path / f"{name}.log", free_port()
        env = {
            **os.environ, "KUBECONFIG": str(control_plane.kubeconfig), "HOSTNAME": name,
            "KAITO_TEMPORAL_ADDRESS": target_of(dev_server), "KAITO_CONTROLLER_LEADER_ELECTION": "true",
            "KAITO_CONTROLLER_LEASE_NAMESPACE": lease_namespace,
            "KAITO_CONTROLLER_LIVENESS": f"http://127.0.0.1:{port}/healthz",
        }  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "controllers"], env=env, stdout=out, stderr=out)
        replicas[name] = (proc, log, port)
        return log

    try:
        a_log = start("replica-a")  # the first one leads: wait for it before starting the second
        wait_for(lambda: "leader: replica-a" in a_log.read_text(), "replica-a to lead", timeout=60,
                 explain=a_log.read_text)  # fmt: skip
        start("replica-b")
        b_log = replicas["replica-b"][1]
        wait_for(lambda: "standby: replica-a holds" in b_log.read_text(), "replica-b to wait", timeout=60,
                 explain=b_log.read_text)  # fmt: skip

        def alive(port: int) -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                return bool(answer.status == 200)

        assert wait_for(lambda: alive(replicas["replica-b"][2]), "the standby's probe", tolerate=(OSError,))
        assert wait_for(lambda: alive(replicas["replica-a"][2]), "kopf's probe on the leader", timeout=60,
                        tolerate=(OSError,))  # fmt: skip
        assert "leader: replica-b" not in b_log.read_text(), "never two active"

        replicas["replica-a"][0].send_signal(signal.SIGTERM)  # a rollout: the leader stops cleanly
        replicas["replica-a"][0].wait(timeout=60)
        wait_for(lambda: "leader: replica-b" in b_log.read_text(), "replica-b to take over", timeout=30,
                 explain=b_log.read_text)  # fmt: skip
        assert replicas["replica-b"][0].poll() is None
    finally:
        for proc, _, _ in replicas.values():
            stop_process(proc)
