"""docker-compose.yml brought up for real with testcontainers (`DockerCompose`), where a Docker engine
answers; skipped, saying why, where none does (a `docker` CLI without an engine, as on the CI machines).

The compose stack provides Temporal (PostgreSQL, the schema job, the mTLS server, the namespace job, the
UI) as the local cloud's Temporal; the local cloud adds the Go-built control plane with kwok and the Azure
emulator on the host and runs the cluster bootstrap; then the compose file's own provisioning worker and
controllers, from our image, provision a Workspace against the emulator. The worker and controllers join
the host's network (an override written here) because the control plane and the emulator listen on the
host's loopback.
"""

import json
import secrets
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from connections.temporal import TemporalSettings, connect
from localcloud.stack import LocalCloud, LocalCloudOptions
from localcloud.temporal_cluster_config import free_port
from localcloud.temporal_cluster_tls import ClusterCertificates
from tests.conftest import ROOT
from tests.e2e.conftest import example
from tests.waiting import wait_for_async
from workflows.workspace_contracts import STATUS_QUERY, Phase, WorkspaceStatus
from workflows.workspace_spec import workflow_id_for

pytestmark = [pytest.mark.controlplane, pytest.mark.docker]

TEMPORAL_SERVICES = ["postgresql", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui"]
NAME = "compose-phi"


def docker_engine_problem() -> str | None:
    """None when a Docker engine answers; else why not, in one line."""
    try:
        import docker  # the Docker SDK testcontainers uses

        docker.from_env(timeout=5).ping()
    except Exception as error:  # any failure to reach an engine means: skip
        return f"no Docker engine answers ({type(error).__name__}: {str(error).splitlines()[0][:200]})"
    return None


class ComposeTemporal:
    """The compose stack's Temporal as the local cloud's launcher (the interface of TemporalDevServer)."""

    def __init__(self, directory: Path) -> None:
        from testcontainers.compose import DockerCompose

        self.directory = directory
        self.port, self.ui_port = free_port(), free_port()
        self.certs = ClusterCertificates.create(
            directory / "certs", ("temporal", "127.0.0.1"), key_mode=0o644
        )
        self.env_file = directory / ".env"
        for name in ("azure-worker.env", "azure-operator.env", "kubeconfig"):
            (directory / name).touch()
        self.values = {
            "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
            "TEMPORAL_PORT": str(self.port),
            "TEMPORAL_UI_PORT": str(self.ui_port),
            "TEMPORAL_CERTS_DIR": str(directory / "certs"),
            "KAITO_SUBSCRIPTION_ID": "set-later",
            "KAITO_RESOURCE_GROUP": "set-later",
            "KAITO_CLUSTER_NAME": "set-later",
            "KAITO_KUBECONFIG_FILE": str(directory / "kubeconfig"),
            "WORKER_AZURE_ENV_FILE": str(directory / "azure-worker.env"),
            "OPERATOR_AZURE_ENV_FILE": str(directory / "azure-operator.env"),
            "AZURE_EMULATOR_OPERATOR_SECRET": secrets.token_urlsafe(16),
        }
        self.write_env()
        self.compose = DockerCompose(
            ROOT, env_file=str(self.env_file), services=TEMPORAL_SERVICES, build=True, wait=True
        )
        self.process: subprocess.Popen[bytes] | None = None  # no process of ours: containers

    def write_env(self) -> None:
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in self.values.items()))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def settings(self) -> TemporalSettings:
        return TemporalSettings(
            address=self.address,
            tls_server_ca=self.certs.ca,
            tls_client_cert=self.certs.client_cert,
            tls_client_key=self.certs.client_key,
            tls_server_name="temporal",
        )

    @property
    def pids(self) -> dict[str, int]:
        return {}

    def client_env(self) -> dict[str, str]:
        return self.settings().client_env()

    async def start(self) -> Client:
        self.compose.start()
        return await connect(self.settings())

    async def stop(self) -> None:
        self.compose.stop(down=True)

    async def restart(self) -> Client:
        self.compose.start()  # compose restarts a dead service; this brings it back if it did not
        return await connect(self.settings())


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[LocalCloud]:
    problem = docker_engine_problem()
    if problem:
        print(f"\nskipping the compose stack: {problem}")
        pytest.skip(problem)
    local = LocalCloud(
        LocalCloudOptions(state_dir=tmp_path / "cloud", with_worker=False, with_controllers=False)
    )
    local.temporal = ComposeTemporal(tmp_path)
    try:
        yield await local.start()
    finally:
        await local.stop()


def containerised(cloud: LocalCloud, directory: Path) -> Any:
    """The compose file's worker and controllers, on the host's network, with the local cloud's settings."""
    from testcontainers.compose import DockerCompose

    temporal = cloud.temporal
    assert isinstance(temporal, ComposeTemporal)
    worker_env = {k: v for k, v in cloud.worker_env().items() if k.startswith(("KAITO_", "AZURE_"))}
    controller_env = {
        k: v for k, v in cloud.controller_env().items() if k.startswith(("KAITO_", "KUBECONFIG"))
    }
    (directory / "azure-worker.env").write_text("".join(f"{k}={v}\n" for k, v in worker_env.items()))
    assert cloud.control_plane is not None
    temporal.values.update(
        KAITO_SUBSCRIPTION_ID=worker_env["KAITO_SUBSCRIPTION_ID"],
        KAITO_RESOURCE_GROUP=worker_env["KAITO_RESOURCE_GROUP"],
        KAITO_CLUSTER_NAME=worker_env["KAITO_CLUSTER_NAME"],
        KAITO_KUBECONFIG_FILE=str(cloud.control_plane.kubeconfig),
    )
    temporal.write_env()
    here = {**temporal.client_env(), "KAITO_KUBECONFIG": "/run/secrets/kubeconfig"}
    # The state directory (kubeconfig certificates, the projected token, the emulator's CA) at the same
    # path, readable: the test's directories are private to the user running it.
    shared = {"user": "0:0", "network_mode": "host", "volumes": [f"{cloud.state_dir}:{cloud.state_dir}:ro",
              f"{directory / 'certs'}:{directory / 'certs'}:ro"]}  # fmt: skip
    override = {
        "services": {
            "worker": {**shared, "environment": {**worker_env, **here}},
            "controllers": {
                **shared,
                "environment": {**controller_env, **here, "KUBECONFIG": "/run/secrets/kubeconfig"},
            },
        }
    }
    path = directory / "compose.override.yml"
    path.write_text(yaml.safe_dump(override))
    return DockerCompose(
        ROOT,
        compose_file_name=["docker-compose.yml", str(path)],
        env_file=str(temporal.env_file),
        services=["worker", "controllers"],
        build=True,
        wait=True,
    )


async def test_the_compose_stack_provisions_a_workspace_against_the_emulator(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    assert cloud.client is not None and cloud.control_plane is not None
    assert cloud.control_plane.bin_dir is not None
    services = containerised(cloud, tmp_path)
    services.start()
    try:
        kubectl = [
            str(cloud.control_plane.bin_dir / "kubectl"),
            f"--kubeconfig={cloud.control_plane.kubeconfig}",
        ]
        manifest = yaml.safe_dump(example("workspace-phi-3-mini.yaml", name=NAME, namespace="default"))
        subprocess.run([*kubectl, "apply", "-f", "-"], input=manifest, text=True, check=True, timeout=60)
        handle = cloud.client.get_workflow_handle(workflow_id_for("default", NAME))

        async def ready() -> WorkspaceStatus | None:
            status = await handle.query(STATUS_QUERY, result_type=WorkspaceStatus)
            assert status.phase is not Phase.FAILED, status.message
            return status if status.phase is Phase.READY else None

        status = await wait_for_async(
            ready, f"{NAME} Ready", timeout=300, interval=1.0, tolerate=(Exception,)
        )
        shown = json.loads(
            subprocess.run(
                [*kubectl, "get", "workspace", NAME, "-o", "json"], capture_output=True, check=True
            ).stdout
        )
        assert shown["status"]["state"] == "Ready" and status.agent_pool
        worker_logs, _ = services.get_logs("worker")
        assert "polling kaito-provisioning" in worker_logs
    finally:
        services.stop(down=False)
