"""The compose file's Temporal pieces, run on this machine with the real binaries: the schema job
(`deploy/compose/temporal/schema-setup.sh`, twice: the second run only updates), the server on the very
config file the image carries (ports and paths from the environment), the namespace job and the workers'
healthcheck (`python -m localcloud.temporal_cluster register | polled`)."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from connections.temporal import TemporalSettings, connect
from localcloud.ports import port_open
from localcloud.processes import stop_process
from localcloud.temporal_cluster import server_bin_dir
from localcloud.temporal_cluster_config import free_port
from localcloud.temporal_cluster_postgres import SUPERUSER, PostgresCluster
from localcloud.temporal_cluster_tls import ClusterCertificates
from tests.conftest import ROOT
from tests.waiting import wait_for_async
from workflows import search_attributes as sa

pytestmark = pytest.mark.temporalserver

COMPOSE_TEMPORAL = ROOT / "deploy" / "compose" / "temporal"


async def test_the_compose_schema_job_server_config_and_namespace_job_work(tmp_path: Path) -> None:
    postgres = PostgresCluster(tmp_path / "pg", tmp_path / "postgres.log")
    await postgres.start()
    server: subprocess.Popen[bytes] | None = None
    try:
        certs = ClusterCertificates.create(tmp_path / "certs", ("temporal", "127.0.0.1"))
        secrets = tmp_path / "secrets"  # what compose's `secrets:` mount at /run/secrets
        secrets.mkdir()
        files = {
            "temporal_ca": certs.ca,
            "temporal_frontend_cert": certs.server_cert,
            "temporal_frontend_key": certs.server_key,
            "temporal_client_cert": certs.client_cert,
            "temporal_client_key": certs.client_key,
        }
        for name, path in files.items():
            shutil.copy(path, secrets / name)
        frontend = free_port()
        env = {
            **os.environ,
            "PATH": f"{server_bin_dir()}:{os.environ['PATH']}",
            "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(postgres.port), "POSTGRES_USER": SUPERUSER,
            "POSTGRES_PASSWORD": postgres.password, "TEMPORAL_TLS_DIR": str(secrets),
            "DYNAMIC_CONFIG_DIR": str(COMPOSE_TEMPORAL), "BIND_ON_IP": "127.0.0.1",
            "FRONTEND_GRPC_PORT": str(frontend), "FRONTEND_HTTP_PORT": str(free_port()),
            **{f"{s}_{kind}_PORT": str(free_port()) for s in ("FRONTEND", "HISTORY", "MATCHING", "WORKER")
               for kind in ("MEMBERSHIP", "GRPC") if (s, kind) != ("FRONTEND", "GRPC")},
        }  # fmt: skip
        for run in ("first", "second"):
            job = subprocess.run(
                [str(COMPOSE_TEMPORAL / "schema-setup.sh")],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert job.returncode == 0 and job.stdout.strip().endswith("schema ready"), f"{run}: {job.stderr}"
        assert "CreateDatabaseTask" not in job.stdout + job.stderr, "the second run only updates"

        log = (tmp_path / "temporal.log").open("wb")
        server = subprocess.Popen(
            ["temporal-server", "--config-file", str(COMPOSE_TEMPORAL / "config.yaml"), "--allow-no-auth",
             "start"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        await wait_for_async(
            lambda: asyncio.to_thread(port_open, frontend), "the compose-configured frontend", timeout=60
        )
        settings = TemporalSettings(
            address=f"127.0.0.1:{frontend}", tls_server_ca=certs.ca, tls_client_cert=certs.client_cert,
            tls_client_key=certs.client_key, tls_server_name="temporal",
        )  # fmt: skip
        client_env = {**os.environ, **settings.client_env()}
        helper = [sys.executable, "-m", "localcloud.temporal_cluster"]
        registered = subprocess.run(
            [*helper, "register"], env=client_env, cwd=ROOT, capture_output=True, text=True, timeout=180
        )
        assert registered.returncode == 0, registered.stderr
        polled = subprocess.run(
            [*helper, "polled", "kaito-provisioning"], env=client_env, cwd=ROOT, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert (polled.returncode, polled.stdout.strip()) == (1, "kaito-provisioning: 0 poller(s)")

        # The UI server on the image's own config, reaching the frontend with the client certificate.
        ui_root, ui_port = tmp_path / "ui", free_port()
        (ui_root / "config").mkdir(parents=True)
        shutil.copy(ROOT / "deploy" / "compose" / "temporal-ui" / "docker.yaml", ui_root / "config")
        ui_env = {
            **env,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{frontend}",
            "UI_HOST": "127.0.0.1",
            "UI_PORT": str(ui_port),
            "TEMPORAL_UI_PUBLIC_URL": f"http://127.0.0.1:{ui_port}",
        }
        ui = subprocess.Popen(
            ["temporal-ui-server", "--root", str(ui_root), "--config", "config", "--env", "docker", "start"],
            env=ui_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{ui_port}/api/v1/namespaces/default"
            answer = await wait_for_async(
                lambda: _get_json(url), "the UI's API", timeout=60, tolerate=(OSError,)
            )
            assert answer["namespaceInfo"]["name"] == "default"
        finally:
            await asyncio.to_thread(stop_process, ui)

        client = await connect(settings)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert {key.name for key in sa.ALL} <= set(listed.custom_attributes)
    finally:
        if server is not None:
            await asyncio.to_thread(stop_process, server)
        await postgres.stop()
        postgres.discard()


async def _get_json(url: str) -> dict[str, Any]:
    def get() -> dict[str, Any]:
        with urllib.request.urlopen(url, timeout=10) as response:
            loaded: dict[str, Any] = json.loads(response.read())
            return loaded

    return await asyncio.to_thread(get)
