"""The bootstrap on real parts: the Temporal dev server, a real control plane, the Azure emulator over
HTTPS with the real SDKs, and the bootstrap worker as a separate process holding the operator's secret.

Both doors (`temporal workflow start` and `kaitoctl bootstrap`), idempotence proven by the emulator's
request log (a second run writes nothing to ARM and changes no Kubernetes object), and a worker killed by
PID in the middle of each Azure write: another worker finishes the run, and each resource was created once.
"""

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from temporalio.client import WorkflowHistory

from localcloud.controlplane import ControlPlane, find_bin_dir
from localcloud.local_bootstrap import local_request
from tests.bootstrap.parts import BootstrapParts
from tests.conftest import ROOT, venv_binary
from tests.waiting import wait_for_async
from workflows.bootstrap_contracts import BOOTSTRAP_TASK_QUEUE, BootstrapRequest, BootstrapResult
from workflows.bootstrap_workflow import BootstrapWorkflow

pytestmark = [pytest.mark.controlplane, pytest.mark.devserver]

AZURE_WRITES = (
    "managedClusters.put",
    "userAssignedIdentities.put",
    "roleAssignments.put",
    "federatedIdentityCredentials.put",
)


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(find_bin_dir(), workdir=tmp_path_factory.mktemp("kube")) as cp:
        yield cp


def kubectl_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl(*args, "-o", "json").stdout)


def can(cp: ControlPlane, account: str, *args: str) -> bool:
    done = cp.kubectl(
        "auth", "can-i", f"--as=system:serviceaccount:kaito-system:{account}", *args, check=False
    )
    return done.stdout.strip() == "yes"


def summaries(history: WorkflowHistory) -> list[str]:
    return [
        json.loads(e.user_metadata.summary.data)
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


async def azure_listing(parts: BootstrapParts, result: BootstrapResult) -> dict[str, list[Any]]:
    """What exists in Azure, read back with the real SDK clients and the operator's credential."""
    cfg = parts.azure.config
    kwargs = parts.azure.client_kwargs()
    async with (
        ClientSecretCredential(
            cfg.tenant_id,
            cfg.operator_client_id,
            cfg.operator_client_secret,
            **parts.azure.credential_kwargs(),
        ) as cred,
        ManagedServiceIdentityClient(cred, cfg.subscription_id, **kwargs) as msi,
        AuthorizationManagementClient(cred, cfg.subscription_id, **kwargs) as authz,
    ):
        rg = cfg.clusters[0].resource_group
        identities = [i async for i in msi.user_assigned_identities.list_by_resource_group(rg)]
        identity = identities[0].name if identities else "none"
        credentials = [f async for f in msi.federated_identity_credentials.list(rg, str(identity))]
        roles = [
            r
            async for r in authz.role_assignments.list_for_scope(
                result.cluster_id, filter=f"principalId eq '{result.principal_id}'"
            )
        ]
    return {"identities": identities, "credentials": credentials, "roles": roles}


async def test_both_doors_create_once_then_change_nothing(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    async with BootstrapParts(control_plane, tmp_path) as parts:
        assert parts.client is not None
        await parts.start_worker()
        cfg = parts.azure.config
        request = BootstrapRequest(
            subscription_id=cfg.subscription_id,
            resource_group=cfg.clusters[0].resource_group,
            cluster_name=cfg.clusters[0].name,
        )
        # Door 1: the Temporal CLI, with the request as plain JSON.
        started = subprocess.run(
            [str(venv_binary("temporal")), "workflow", "start", "--address", parts.temporal.address,
             "--type", "BootstrapWorkflow", "--task-queue", BOOTSTRAP_TASK_QUEUE,
             "--workflow-id", request.workflow_id, "--input", request.model_dump_json(include={
                 "subscription_id", "resource_group", "cluster_name"})],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        handle = parts.client.get_workflow_handle_for(BootstrapWorkflow.run, request.workflow_id)
        first = await asyncio.wait_for(handle.result(), 120)

        assert first.issuer_url == control_plane.issuer
        assert first.subject == "system:serviceaccount:kaito-system:kaito-worker"
        assert first.cluster_id.endswith("/managedClusters/kaito-aks")
        assert len(first.azure_changed) == 4
        writes = await parts.writes()
        assert sorted(w["op"] for w in writes) == sorted(AZURE_WRITES), "one write per Azure resource"
        assert all(w["status"] in (200, 201) for w in writes)
        assert all(w["principal"] == cfg.operator_principal_id for w in writes), "the operator did them"
        assert summaries(await handle.fetch_history())[4] == (
            "federate kaito-worker-kaito-aks with system:serviceaccount:kaito-system:kaito-worker"
        )

        made = await azure_listing(parts, first)
        assert [i.client_id for i in made["identities"]] == [first.client_id]
        assert [(f.issuer, f.subject, f.audiences) for f in made["credentials"]] == [
            (first.issuer_url, first.subject, ["api://AzureADTokenExchange"])
        ]
        assert [str(r.role_definition_id).rsplit("/", 1)[-1] for r in made["roles"]] == [
            "b24988ac-6180-42a0-ab88-20f7382dd24c"
        ]

        crd = kubectl_json(control_plane, "get", "crd", "workspaces.kaito.sh")
        assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
        sa = kubectl_json(control_plane, "get", "serviceaccount", "kaito-worker", "-n", "kaito-system")
        assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"] == first.client_id
        assert sa["metadata"]["annotations"]["azure.workload.identity/tenant-id"] == first.tenant_id
        worker = kubectl_json(control_plane, "get", "deployment", "kaito-worker", "-n", "kaito-system")
        assert worker["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        assert worker["spec"]["template"]["spec"]["serviceAccountName"] == "kaito-worker"
        assert "Deployment/kaito-system/kaito-controller" in first.kube_created

        # Least privilege, as the apiserver's authorizer decides it for each service account.
        assert can(control_plane, "kaito-worker", "create", "statefulsets", "-n", "default")
        assert can(
            control_plane, "kaito-worker", "patch", "workspaces.kaito.sh", "--subresource=status", "-n", "x"
        )
        assert can(
            control_plane, "kaito-worker", "create", "services", "--subresource=proxy", "-n", "default"
        )
        assert can(control_plane, "kaito-worker", "list", "nodes")
        assert can(control_plane, "kaito-worker", "get", "pods", "--subresource=proxy", "-n", "default")
        assert can(control_plane, "kaito-worker", "list", "workspaces.kaito.sh", "--all-namespaces")
        assert not can(control_plane, "kaito-worker", "get", "secrets", "-n", "default")
        assert not can(control_plane, "kaito-worker", "delete", "nodes")
        assert not can(control_plane, "kaito-worker", "create", "pods", "-n", "default")
        assert can(control_plane, "kaito-controller", "patch", "workspaces.kaito.sh", "-n", "default")
        assert can(control_plane, "kaito-controller", "watch", "statefulsets", "-n", "default")
        assert not can(control_plane, "kaito-controller", "create", "statefulsets", "-n", "default")
        assert not can(
            control_plane, "kaito-controller", "get", "services", "--subresource=proxy", "-n", "default"
        )

        # Door 2: kaitoctl, the same cluster again: nothing to do, and nothing done.
        mark = await parts.last_seq()
        again = subprocess.run(
            [sys.executable, "-m", "kaitoctl", "bootstrap", "--subscription", request.subscription_id,
             "--resource-group", request.resource_group, "--cluster", request.cluster_name, "-o", "json"],
            capture_output=True, text=True, timeout=120, env=parts.cli_env(), cwd=str(ROOT),
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        second = BootstrapResult.model_validate_json(again.stdout)
        assert (second.client_id, second.principal_id) == (first.client_id, first.principal_id)
        assert await parts.writes(after=mark) == [], "the second run wrote nothing to ARM"
        assert second.azure_changed == [] and second.kube_created == [] and second.kube_changed == []
        assert len(second.kube_applied) == len(first.kube_applied)


async def _wait_for_request(parts: BootstrapParts, op: str, answered: bool) -> dict[str, Any]:
    async def seen() -> dict[str, Any] | None:
        for entry in await parts.requests():
            if entry["op"] == op and (entry["status"] != 0 or not answered):
                return entry
        return None

    found: dict[str, Any] = await wait_for_async(seen, f"{op} to reach the emulator")
    return found


@pytest.mark.parametrize("op", AZURE_WRITES)
async def test_a_worker_killed_mid_step_is_replaced_without_duplicates(
    control_plane: ControlPlane, tmp_path: Path, op: str
) -> None:
    during_lro = op == "managedClusters.put"
    async with BootstrapParts(
        control_plane, tmp_path, cluster_update_seconds=4.0 if during_lro else 0.5
    ) as parts:
        assert parts.client is not None
        if not during_lro:
            # Hold the write in the emulator so the worker is inside this step when it dies.
            await asyncio.to_thread(parts.control, "POST", "faults", {"match": op, "latency_ms": 2500})
        first_worker = await parts.start_worker()
        request = local_request(
            parts.azure.config,
            activity_timeout=timedelta(seconds=6),
            heartbeat_timeout=timedelta(seconds=15),  # the cluster-update activity beats every 10 s
        )
        handle = await parts.client.start_workflow(
            BootstrapWorkflow.run, request, id=request.workflow_id, task_queue=BOOTSTRAP_TASK_QUEUE
        )
        # The LRO case dies once the PUT was accepted (the operation runs on); the others while it waits.
        await _wait_for_request(parts, op, answered=during_lro)
        await parts.kill(first_worker)
        await asyncio.to_thread(parts.control, "DELETE", "faults")
        second_worker = await parts.start_worker()
        result = await asyncio.wait_for(handle.result(), 120)

        # A held write whose caller died never took effect (the emulator lost the connection reading it);
        # either way exactly one write of each resource succeeded.
        done = [w for w in await parts.writes() if w["status"] in (200, 201)]
        assert sorted(w["op"] for w in done) == sorted(AZURE_WRITES), f"one successful write each: {done}"
        if not during_lro:
            assert [w["status"] for w in done if w["op"] == op] == [201], "created once"
        made = await azure_listing(parts, result)
        assert (len(made["identities"]), len(made["credentials"]), len(made["roles"])) == (1, 1, 1)

        history = await handle.fetch_history()
        restarted = [
            e.activity_task_started_event_attributes
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
            and e.activity_task_started_event_attributes.attempt > 1
        ]
        assert restarted, "the interrupted step was retried"
        assert all(a.identity.startswith(f"{second_worker.pid}@") for a in restarted)
