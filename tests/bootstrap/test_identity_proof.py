"""Proof by a real exchange, on the whole local cloud (in this process, so the test can restart the
provisioning worker as a pod restart would).

After the bootstrap, the provisioning worker holds no secret: only the workload-identity variables and a
service-account token from the real kube-apiserver. The emulator verifies that token against the
apiserver's JWKS and ARM sees the managed identity create the GPU pool. Break the federation (delete the
federated credential, or point it at another service account) or move the role to another scope, and
provisioning fails with one clear, final authorization error; `kaitoctl bootstrap` repairs it and the
next workspace is Ready.
"""

import asyncio
import copy
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import pytest_asyncio
import yaml
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from azure.mgmt.msi.models import FederatedIdentityCredential
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from connections.temporal import TemporalSettings, connect
from localcloud.projected_token import ProjectedServiceAccountToken
from localcloud.stack import LocalCloud, LocalCloudOptions
from tests.conftest import ROOT, load_example
from tests.waiting import wait_for_async
from workflows.identity_contracts import CONTRIBUTOR_ROLE_ID
from workflows.workspace_contracts import STATUS_QUERY, WorkspaceStatus
from workflows.workspace_spec import workflow_id_for

pytestmark = [pytest.mark.controlplane, pytest.mark.devserver, pytest.mark.asyncio(loop_scope="module")]

SUBJECT = "system:serviceaccount:kaito-system:kaito-worker"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cloud(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCloud]:
    state = tmp_path_factory.mktemp("localcloud")
    async with LocalCloud(LocalCloudOptions(state_dir=state)) as running:
        # What `kaitoctl dev up` leaves for the CLI: where everything is, and how it was bootstrapped.
        running.endpoints().write(state)
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def temporal(cloud: LocalCloud) -> Client:
    return await connect(TemporalSettings(address=cloud.temporal.address))


# ---- helpers -----------------------------------------------------------------------------------------


async def kubectl(cloud: LocalCloud, *args: str, stdin: str | None = None, check: bool = True) -> str:
    assert cloud.control_plane is not None
    done = await asyncio.to_thread(cloud.control_plane.kubectl, *args, input=stdin, check=check)
    return str(done.stdout)


async def apply_workspace(cloud: LocalCloud, name: str) -> None:
    manifest = copy.deepcopy(load_example("workspace-phi-3-mini.yaml"))
    manifest["metadata"] = {"name": name, "namespace": "default"}
    await kubectl(cloud, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))


async def workspace(cloud: LocalCloud, name: str) -> dict[str, Any] | None:
    raw = await kubectl(cloud, "get", "workspace", name, "-o", "json", check=False)
    return json.loads(raw) if raw.strip() else None


async def succeeded(cloud: LocalCloud, name: str) -> dict[str, Any] | None:
    found = await workspace(cloud, name)
    for c in ((found or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == "WorkspaceSucceeded" and c["status"] == "True":
            return found
    return None


async def delete_workspace(cloud: LocalCloud, name: str) -> None:
    await kubectl(cloud, "delete", "workspace", name, "--ignore-not-found", "--wait=false")

    async def gone() -> bool:
        pools = await asyncio.to_thread(cloud_pools, cloud)
        return await workspace(cloud, name) is None and not pools

    await wait_for_async(gone, f"workspace {name} and its GPU pool to be gone", timeout=120)


def cloud_pools(cloud: LocalCloud) -> list[str]:
    return [p["name"] for p in emulator(cloud, "agentpools")["value"] if p["mode"] == "User"]


def emulator(cloud: LocalCloud, path: str) -> Any:
    """The emulator's control API (request log, pools)."""
    assert cloud.azure is not None
    context = ssl.create_default_context(cafile=str(cloud.azure.ca_file))
    with urllib.request.urlopen(f"{cloud.azure.base_url}/_emulator/{path}", context=context) as answer:
        return json.loads(answer.read())


class Operator:
    """The operator's own SDK clients, for breaking the setup the way a person could."""

    def __init__(self, cloud: LocalCloud) -> None:
        assert cloud.azure is not None and cloud.bootstrap_result is not None
        self.cloud = cloud
        self.config = cloud.azure.config
        self.result = cloud.bootstrap_result
        self.rg = self.config.clusters[0].resource_group
        self.identity = self.result.identity_id.rsplit("/", 1)[-1]

    def _credential(self) -> ClientSecretCredential:
        assert self.cloud.azure is not None
        cfg = self.config
        return ClientSecretCredential(
            cfg.tenant_id,
            cfg.operator_client_id,
            cfg.operator_client_secret,
            **self.cloud.azure.credential_kwargs(),
        )

    async def _with(self, client_type: Any, work: Any) -> Any:
        """`work(client)` with a fresh SDK client of `client_type` under the operator's credential."""
        assert self.cloud.azure is not None
        kwargs = self.cloud.azure.client_kwargs()
        async with self._credential() as cred, client_type(cred, self.config.subscription_id, **kwargs) as c:
            return await work(c)

    async def msi(self, work: Any) -> Any:
        return await self._with(ManagedServiceIdentityClient, work)

    async def authz(self, work: Any) -> Any:
        return await self._with(AuthorizationManagementClient, work)


async def kaitoctl_bootstrap(cloud: LocalCloud) -> dict[str, Any]:
    """`kaitoctl bootstrap` as a user runs it beside `kaitoctl dev up` (names from the running stack)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "KAITO_", "KUBECONFIG"))}
    env["KAITO_STATE_DIR"] = str(cloud.state_dir)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "kaitoctl", "bootstrap", "-o", "json"],
        capture_output=True, text=True, timeout=180, env=env, cwd=str(ROOT),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


async def fails_with(temporal: Client, name: str) -> tuple[ApplicationError, WorkspaceStatus, float]:
    """The workspace workflow's final error, its status query, and how long provisioning took to fail."""
    handle = temporal.get_workflow_handle(workflow_id_for("default", name))

    async def closed() -> bool:
        try:
            described = await handle.describe()
        except Exception:
            return False
        return described.status != WorkflowExecutionStatus.RUNNING

    began = time.monotonic()
    await wait_for_async(closed, f"workflow of {name} to end", timeout=150)
    took = time.monotonic() - began
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    status = await handle.query(STATUS_QUERY, result_type=WorkspaceStatus)
    return cause, status, took


def condition(status: WorkspaceStatus, type_: str) -> Any:
    return next(c for c in status.conditions if c.type == type_)


async def provisions_again(cloud: LocalCloud, failed: str) -> None:
    """After a repair: the failed workspace goes, and a new one (`<failed>-2`) is Ready."""
    await delete_workspace(cloud, failed)
    name = f"{failed}-2"
    await apply_workspace(cloud, name)
    await wait_for_async(lambda: succeeded(cloud, name), f"{name} to be Ready after the repair", timeout=180)
    await delete_workspace(cloud, name)


# ---- the proof ---------------------------------------------------------------------------------------


async def test_the_worker_holds_only_the_workload_identity(cloud: LocalCloud) -> None:
    assert cloud.bootstrap_result is not None and cloud.worker_token is not None
    environ = Path(f"/proc/{cloud.processes['worker'].pid}/environ").read_bytes().split(b"\0")
    azure = dict(item.decode().split("=", 1) for item in environ if item.startswith(b"AZURE_"))
    assert sorted(azure) == [
        "AZURE_AUTHORITY_HOST",
        "AZURE_CLIENT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_TENANT_ID",
    ]
    assert azure["AZURE_CLIENT_ID"] == cloud.bootstrap_result.client_id
    operator = Path(f"/proc/{cloud.processes['bootstrap-worker'].pid}/environ").read_bytes()
    assert b"AZURE_CLIENT_SECRET=" in operator, "the operator's secret stays with the bootstrap worker"

    token = Path(azure["AZURE_FEDERATED_TOKEN_FILE"]).read_text()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == ["api://AzureADTokenExchange"] and claims["sub"] == SUBJECT
    assert claims["iss"] == cloud.bootstrap_result.issuer_url
    assert claims["exp"] - claims["iat"] == 3600


async def test_a_workspace_is_provisioned_through_a_verified_token_exchange(
    cloud: LocalCloud, temporal: Client
) -> None:
    assert cloud.bootstrap_result is not None
    await apply_workspace(cloud, "wi-proof")
    await wait_for_async(lambda: succeeded(cloud, "wi-proof"), "wi-proof to be Ready", timeout=180)

    jwks = json.loads(await kubectl(cloud, "get", "--raw", "/openid/v1/jwks"))
    kids = {key["kid"] for key in jwks["keys"]}
    verified = [
        line
        for line in (cloud.logs / "azure.log").read_text().splitlines()
        if "client assertion verified" in line and f"client_id={cloud.bootstrap_result.client_id}" in line
    ]
    assert verified, "the emulator logged the exchange"
    assert (
        f"iss={cloud.bootstrap_result.issuer_url} sub={SUBJECT} aud=api://AzureADTokenExchange" in verified[0]
    )
    assert f"against {cloud.bootstrap_result.issuer_url}/openid/v1/jwks" in verified[0], (
        "the apiserver's JWKS"
    )
    assert any(f"kid={kid}" in verified[0] for kid in kids), "signed by the apiserver's service-account key"

    puts = emulator(cloud, "requests?op=agentPools.put")["requests"]
    assert puts and {p["principal"] for p in puts} == {cloud.bootstrap_result.principal_id}, (
        "ARM saw the managed identity, not the operator, create the pool"
    )
    assert emulator(cloud, "requests?op=token.post&status=200")["count"] >= 1
    await delete_workspace(cloud, "wi-proof")


async def test_a_deleted_federated_credential_is_a_final_error_until_bootstrap_repairs_it(
    cloud: LocalCloud, temporal: Client
) -> None:
    operator = Operator(cloud)
    await operator.msi(
        lambda c: c.federated_identity_credentials.delete(operator.rg, operator.identity, "kaito-worker")
    )
    await cloud.restart_worker()  # a fresh pod: no access token cached from before
    await apply_workspace(cloud, "wi-nofic")
    cause, status, took = await fails_with(temporal, "wi-nofic")
    assert cause.type == "CredentialRefused", cause
    assert "AADSTS70021: No matching federated identity record" in str(cause)
    assert f"Assertion Subject: '{SUBJECT}'" in str(cause)
    assert "kaitoctl bootstrap" in str(cause)
    failed = condition(status, "WorkspaceSucceeded")
    assert (failed.status, failed.reason) == ("False", "CredentialRefused")
    assert took < 90, f"bounded, not retried forever ({took:.0f}s)"

    repaired = await kaitoctl_bootstrap(cloud)
    assert repaired["azure_changed"] == ["federated credential kaito-worker written"]
    await provisions_again(cloud, "wi-nofic")


async def test_a_credential_for_another_service_account_is_refused_until_repaired(
    cloud: LocalCloud, temporal: Client
) -> None:
    operator = Operator(cloud)
    assert cloud.bootstrap_result is not None
    other = FederatedIdentityCredential(
        issuer=cloud.bootstrap_result.issuer_url,
        subject="system:serviceaccount:kaito-system:someone-else",
        audiences=["api://AzureADTokenExchange"],
    )
    await operator.msi(
        lambda c: c.federated_identity_credentials.create_or_update(
            operator.rg, operator.identity, "kaito-worker", other
        )
    )
    await cloud.restart_worker()
    await apply_workspace(cloud, "wi-othersa")
    cause, status, _ = await fails_with(temporal, "wi-othersa")
    assert cause.type == "CredentialRefused" and "AADSTS70021" in str(cause), cause
    assert condition(status, "WorkspaceSucceeded").reason == "CredentialRefused"

    repaired = await kaitoctl_bootstrap(cloud)
    assert repaired["azure_changed"] == ["federated credential kaito-worker written"]
    assert repaired["subject"] == SUBJECT
    await provisions_again(cloud, "wi-othersa")


async def test_a_role_on_another_scope_is_a_final_authorization_error_until_repaired(
    cloud: LocalCloud, temporal: Client
) -> None:
    operator = Operator(cloud)
    result = operator.result
    assignment = result.role_assignment_id.rsplit("/", 1)[-1]
    elsewhere = result.identity_id  # Contributor on the identity itself: a real scope, not the cluster
    await operator.authz(lambda c: c.role_assignments.delete(result.cluster_id, assignment))
    await operator.authz(
        lambda c: c.role_assignments.create(
            elsewhere,
            "6a1e0c2d-7b3f-4e5a-9c8d-1f2e3d4c5b6a",
            RoleAssignmentCreateParameters(
                role_definition_id=f"/subscriptions/{operator.config.subscription_id}/providers/"
                f"Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR_ROLE_ID}",
                principal_id=result.principal_id,
                principal_type="ServicePrincipal",
            ),
        )
    )
    await apply_workspace(cloud, "wi-scope")
    cause, status, took = await fails_with(temporal, "wi-scope")
    assert cause.type == "AuthorizationFailed", cause
    assert f"over scope '{result.cluster_id}" in str(cause)
    assert condition(status, "WorkspaceSucceeded").reason == "AuthorizationFailed"
    assert took < 30, "403 is final at once"

    repaired = await kaitoctl_bootstrap(cloud)
    assert any(change.startswith("role assignment") for change in repaired["azure_changed"])
    await provisions_again(cloud, "wi-scope")


async def test_the_token_file_is_renewed_before_expiry_and_never_half_written(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    assert cloud.kube is not None
    projected = ProjectedServiceAccountToken(
        cloud.kube,
        "kaito-system",
        "kaito-worker",
        tmp_path / "token",
        expiration_seconds=600,
        refresh_fraction=0.002,
    )  # renewed every ~1.2 s instead of every 8 minutes
    task = asyncio.create_task(projected.run())
    seen: set[str] = set()

    async def renewed_three_times() -> bool:
        if projected.path.exists():
            text = projected.path.read_text()
            claims = jwt.decode(text, options={"verify_signature": False})  # always a whole JWT
            assert claims["sub"] == SUBJECT and claims["aud"] == ["api://AzureADTokenExchange"]
            seen.add(text)
        return len(seen) >= 3

    try:
        await wait_for_async(renewed_three_times, "three successive tokens", timeout=30)
    finally:
        task.cancel()
    assert projected.refreshes >= 3
    assert projected.expires_at is not None and projected.next_refresh() < projected.expires_at
